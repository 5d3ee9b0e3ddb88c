"""``/login`` and ``/logout``: an API token in a cookie, for people using the dashboard.

The cookie holds the token itself (HttpOnly, SameSite=Strict, Secure over HTTPS); it is checked
on every request exactly like the ``Authorization`` header, so revoking the token logs the
browser out too. The form is parsed here (urlencoded) rather than with python-multipart,
which the app does not otherwise need.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from opsledger.adapters.http.auth import COOKIE
from opsledger.adapters.http.errors import ApiError
from opsledger.adapters.http.tokens import TokenStore
from starlette.concurrency import run_in_threadpool

#: How long the browser keeps the cookie; the token's revocation ends it sooner.
COOKIE_MAX_AGE_S = 12 * 3600
_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>opsledger: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}}
.error{{color:#b00020}}</style></head>
<body><h1>opsledger</h1>
<form method="post" action="/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<input type="hidden" name="next" value="{next}">
{error}<button type="submit">Sign in</button></form></body></html>
"""


def safe_next(target: str | None) -> str:
    """Only a path on this site: an absolute URL or ``//host`` would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(next_path: str = "/", error: str = "", status: int = 200) -> HTMLResponse:
    shown = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = _FORM.format(next=html.escape(safe_next(next_path), quote=True), error=shown)
    return HTMLResponse(body, status_code=status)


def login_redirect(path: str) -> RedirectResponse:
    """Where a browser without a valid cookie is sent (see the 401 handler)."""
    return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)


def login_router(tokens: TokenStore) -> APIRouter:
    router = APIRouter(tags=["browser"])

    @router.get("/login", response_class=HTMLResponse, summary="the sign-in form")
    def form(next: str = "/") -> HTMLResponse:
        return login_page(next)

    @router.post(
        "/login",
        response_class=HTMLResponse,
        summary="sign in with an API token (form field `token`); sets the cookie",
        responses={303: {"description": "signed in: on to `next`"},
                   401: {"description": "unknown or revoked token: the form again"},
                   415: {"description": "not a urlencoded form"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["token"],
                "properties": {"token": {"type": "string"}, "next": {"type": "string"}},
            }}}}},
    )  # fmt: skip
    async def sign_in(request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise ApiError(
                415, "unsupported_media_type",
                "expected a form (application/x-www-form-urlencoded)", field="content-type",
            )  # fmt: skip
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        secret = (fields.get("token") or [""])[0].strip()
        target = safe_next((fields.get("next") or ["/"])[0])
        if not secret or await run_in_threadpool(tokens.authenticate, secret) is None:
            return login_page(target, "Unknown or revoked token.", status=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, secret, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="strict",
            secure=request.url.scheme == "https", path="/",
        )  # fmt: skip
        return response

    @router.post(
        "/logout", summary="forget the cookie", status_code=303, response_class=Response,
        responses={303: {"description": "signed out: on to /login"}},
    )  # fmt: skip
    def sign_out() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router
