"""Reading webhook bodies: within the size limit, JSON named by its field, echoed safely.

Shared by every adapter's receivers (monitoring, JIRA): a body over the limit keeps its
first bytes for the refusal record, bad JSON is a 400 naming ``body``, and error texts that
echo what a sender wrote are bounded and printable.
"""

from __future__ import annotations

import json
from typing import Any

from opsledger.core.domain.errors import InputError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

#: How much of a body over the limit is kept with its refusal: enough to see who sent it.
KEEP_OF_OVERSIZED = 4096
#: Error texts echo what was sent; a huge or undecodable value must not make a huge answer.
MESSAGE_LIMIT = 300


async def read_body(request: Request) -> tuple[bytes, bool]:
    """The whole body and False; or, past the app's limit (BodyLimit), its first
    ``KEEP_OF_OVERSIZED`` bytes and True."""
    chunks: list[bytes] = []
    try:
        async for chunk in request.stream():
            chunks.append(chunk)
    except StarletteHTTPException as error:
        if error.status_code != 413:
            raise
        return b"".join(chunks)[:KEEP_OF_OVERSIZED], True
    return b"".join(chunks), False


def decode_json(body: bytes) -> Any:
    """JSON in UTF-8, -16 or -32 (as ``json.loads`` detects them); 400 naming ``body``."""
    if not body.strip():
        raise InputError("body", "is empty: expected a JSON object")
    try:
        return json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise InputError("body", "is nested too deeply") from None
    except UnicodeDecodeError:
        raise InputError("body", "is not UTF-8, UTF-16 or UTF-32 text") from None
    except json.JSONDecodeError as error:
        raise InputError("body", f"is not valid JSON ({error.msg} at {error.pos})") from None


def _no_constant(name: str) -> Any:
    raise InputError("body", f"{name} is not a JSON number")


def clip(text: str) -> str:
    """Safe to put in a JSON answer and a log line: no lone surrogates, bounded length."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= MESSAGE_LIMIT else safe[: MESSAGE_LIMIT - 1] + "…"
