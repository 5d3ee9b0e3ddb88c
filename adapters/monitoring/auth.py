"""Per-source authentication of webhook deliveries: a bearer token, an HMAC-SHA256 of the body.

Both compared in constant time (``hmac.compare_digest`` on bytes). Failures raise the HTTP
app's 401; the message says what was missing or wrong, never a secret or what was presented.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from opsledger.adapters.http.errors import ApiError
from opsledger.adapters.monitoring.settings import SourceAuth

SIGNATURE_HEADER = "x-opsledger-signature"
SIGNATURE_PREFIX = "sha256="


def unauthenticated(message: str) -> ApiError:
    return ApiError(
        401, "unauthenticated", message, headers={"WWW-Authenticate": 'Bearer realm="monitoring"'}
    )


def check_secret(expected: str, presented: str | None, what: str) -> None:
    """A shared secret (JIRA's webhook URL ``?secret=``), compared in constant time."""
    if not presented:
        raise unauthenticated(f"the {what} is required")
    if not hmac.compare_digest(_bytes(presented), _bytes(expected)):
        raise unauthenticated(f"the {what} is not accepted")


def check_bearer(auth: SourceAuth, headers: Mapping[str, str], source: str) -> None:
    """Refuse a source with no secrets at all, and a missing or wrong bearer token (when the
    source has one). Runs before the body is read."""
    if not auth.configured:
        raise unauthenticated(f"no credentials are configured for source {source}")
    if not auth.token:
        return
    scheme, _, presented = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise unauthenticated("a bearer token is required")
    if not hmac.compare_digest(_bytes(presented.strip()), _bytes(auth.token)):
        raise unauthenticated("the bearer token is not accepted")


def check_signature(
    auth: SourceAuth, headers: Mapping[str, str], body: bytes, *, header: str = SIGNATURE_HEADER
) -> None:
    """When the source has an HMAC secret: ``<header>: sha256=<hex>`` of the body (ours is
    ``X-Opsledger-Signature``; JIRA Cloud signs with ``X-Hub-Signature``)."""
    if not auth.hmac_secret:
        return
    presented = headers.get(header, "").strip()
    if not presented.lower().startswith(SIGNATURE_PREFIX):
        raise unauthenticated(f"the {header} header (sha256=<hex>) is required")
    expected = sign(auth.hmac_secret, body)
    if not hmac.compare_digest(_bytes(presented.lower()), _bytes(expected)):
        raise unauthenticated("the body's signature does not match")


def sign(secret: str, body: bytes) -> str:
    """The header value a sender computes: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return SIGNATURE_PREFIX + hmac.new(_bytes(secret), body, hashlib.sha256).hexdigest()


def _bytes(text: str) -> bytes:
    # header values arrive as latin-1 text; compare_digest refuses non-ASCII str
    return text.encode("utf-8", "surrogateescape")
