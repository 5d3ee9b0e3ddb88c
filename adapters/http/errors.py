"""Every failure of the HTTP app as one JSON shape and a 4xx that says what to fix.

``{"error": {"code": ..., "message": ..., "field": ...}}``: opsledger's error family, FastAPI's
request validation, Starlette's HTTP errors and the app's own (authentication, body size,
content type) all answer it. Only a bug answers 500, and then without details (they go to the
log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opsledger.adapters.kafka.bus import BusUnavailable
from opsledger.core.domain.errors import (
    ConflictError,
    DomainError,
    InputError,
    NotFoundError,
    OpsledgerError,
)
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
#: Seconds a client should wait before retrying when the broker did not acknowledge.
RETRY_AFTER_S = 5
#: Default largest request body (bytes); adapters' routers may set their own.
MAX_BODY_BYTES = 1_048_576
JSON_TYPES = ("application/json",)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """What every 4xx and 5xx of the app carries."""

    error: ErrorDetail


#: The error responses, for the OpenAPI description of each route.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "invalid input: `field` names what to fix"),
        (401, "no token, or an unknown or revoked one"),
        (403, "the token's role may not do this"),
        (404, "no such ticket or record"),
        (409, "not allowed in the ticket's state, or a conflicting idempotency key"),
        (413, "request body over the size limit"),
        (415, "request body is not JSON"),
        (503, "the commands could not be made durable (broker down): retry after Retry-After"),
    )
}


class ApiError(Exception):
    """A failure of the HTTP layer itself (authentication, content type, missing feature)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def opsledger_error(error: OpsledgerError) -> JSONResponse:
    """The CLI's exit codes, as HTTP statuses."""
    if isinstance(error, InputError):
        return error_response(400, "invalid_input", error.message, error.field)
    if isinstance(error, NotFoundError):
        return error_response(404, "not_found", str(error))
    if isinstance(error, DomainError):
        return error_response(409, "invalid_state", str(error))
    if isinstance(error, ConflictError):
        return error_response(409, "conflict", str(error))
    if isinstance(error, BusUnavailable):
        return error_response(
            503, "unavailable", str(error), headers={"Retry-After": str(RETRY_AFTER_S)}
        )
    log.error("unmapped opsledger error", extra={"error": type(error).__name__})
    return error_response(500, "internal", "unexpected error; see the server log")


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
}


def validation_field(error: Mapping[str, Any]) -> str:
    """``("body", "details", "a")`` -> ``details.a``: where the value came from is implied."""
    loc = [str(p) for p in error.get("loc", ())]
    if error.get("type") == "json_invalid" or not loc:
        return "body"
    parts = loc[1:] if loc[0] in ("body", "query", "path", "header", "cookie") else loc
    return ".".join(parts) or loc[0]


def validation_message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this request"
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"is not valid JSON ({reason})" if reason else "is not valid JSON"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return "expected a JSON object"
    return str(error.get("msg", "is invalid"))


def install_error_handlers(app: FastAPI, *, login: Callable[[str], Response] | None = None) -> None:
    """One handler per family; all answer :class:`ErrorBody`.

    ``login(path)``: where a browser asking for a page (not the API, not a receiver) without
    a valid token is sent instead of a 401.
    """

    @app.exception_handler(OpsledgerError)
    async def _opsledger(request: Request, error: OpsledgerError) -> JSONResponse:
        return opsledger_error(error)

    @app.exception_handler(ApiError)
    async def _api(request: Request, error: ApiError) -> Response:
        browsing = (
            request.method == "GET"
            and not request.url.path.startswith(("/api/", "/hooks/"))
            and "text/html" in request.headers.get("accept", "")
        )
        if login is not None and error.status == 401 and browsing:
            return login(request.url.path)
        return error_response(error.status, error.code, error.message, error.field, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        return error_response(
            400, "invalid_input", validation_message(first), validation_field(first)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), None, error.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return error_response(500, "internal", "unexpected error; see the server log")


def require_json(request: Request) -> None:
    """A dependency for routes that read a JSON body: a body of another type answers 415.

    An empty body passes (routes whose every field is optional take none). HTML forms cannot
    send ``application/json`` across sites without a CORS preflight, so this also keeps the
    cookie-authenticated browser session safe from cross-site form posts.
    """
    length = request.headers.get("content-length")
    has_body = (length is not None and length.strip() != "0") or (
        "transfer-encoding" in request.headers
    )
    if not has_body:
        return
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in JSON_TYPES and not (kind.startswith("application/") and kind.endswith("+json")):
        shown = kind or "no Content-Type"
        raise ApiError(
            415, "unsupported_media_type", f"expected application/json, got {shown}",
            field="content-type",
        )  # fmt: skip


#: Query parameters that are lists (``?target=a&target=b``); any other may be given once.
REPEATABLE = frozenset({"target"})


def single_values(request: Request) -> None:
    """A dependency refusing a query parameter given twice: which one would count is a guess."""
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key in seen and key not in REPEATABLE:
            raise ApiError(400, "invalid_input", "given more than once", field=key)
        seen.add(key)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, in the app's error shape.

    A declared ``Content-Length`` over the limit is answered at once, before authentication;
    a body that turns out longer than declared (or is chunked) fails when it is read, as an
    ``HTTPException`` that FastAPI and the handlers above pass on as it is. Starlette's own
    limiter answers in plain text, hence this one.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        overrides: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: path prefix -> its own limit (adapters' receivers); read per request, so routers
        #: mounted after the app was built still get theirs
        self.overrides = overrides if overrides is not None else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next(
            (n for prefix, n in sorted(self.overrides.items(), key=lambda kv: -len(kv[0]))
             if path.startswith(prefix)),
            self.max_bytes,
        )  # fmt: skip
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.strip().isdigit() and int(declared) > limit:
            await error_response(413, "too_large", _over(limit), "body")(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise StarletteHTTPException(413, _over(limit))
            return message

        await self.app(scope, counting_receive, send)


def _over(limit: int) -> str:
    return f"request body over {limit:,} bytes"


def json_text(value: Any) -> str:
    """Compact ASCII JSON (safe in an HTTP header)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
