"""Who may do what: a token's role gives permissions, and each route requires one.

A token is accepted as ``Authorization: Bearer <secret>`` or as the ``opsledger_token`` cookie
that ``POST /login`` sets for the browser dashboard. No token, or an unknown or revoked one,
answers 401; a role without the route's permission answers 403.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from opsledger.adapters.http.errors import ApiError
from opsledger.adapters.http.tokens import ApiToken, Role, TokenStore

COOKIE = "opsledger_token"


class Permission(StrEnum):
    TICKETS_READ = "tickets:read"  # a ticket, its history, timeline and SLA status
    TICKETS_WRITE = "tickets:write"  # open tickets and act on them, link records
    VIEWS_READ = "views:read"  # work queues, KPIs, the report, the dashboard
    INBOUND_WRITE = "inbound:write"  # the generic inbound event, adapters' webhook receivers
    AUDIT_READ = "audit:read"  # audit verify and export
    TOKENS_ADMIN = "tokens:admin"  # create, list and revoke API tokens


P = Permission
#: The role matrix (docs/http.md shows it as a table).
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset({P.TICKETS_READ, P.TICKETS_WRITE, P.VIEWS_READ}),
    Role.INTEGRATION: frozenset({P.TICKETS_READ, P.INBOUND_WRITE}),
    Role.AUDITOR: frozenset({P.TICKETS_READ, P.VIEWS_READ, P.AUDIT_READ}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The token a request was made with: its name is the default actor of what it records."""

    token: ApiToken

    @property
    def name(self) -> str:
        return self.token.name

    @property
    def role(self) -> Role:
        return self.token.role

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


_bearer = HTTPBearer(auto_error=False, description="an API token: `Bearer olt_…`")
_cookie = APIKeyCookie(
    name=COOKIE, auto_error=False, description="set by `POST /login` for the browser dashboard"
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Cookie = Annotated[str | None, Depends(_cookie)]


class Auth:
    """Builds the dependency each route declares: ``Depends(auth.require(Permission.X))``."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def principal(self, request: Request, bearer: Bearer, cookie: Cookie) -> Principal:
        """The token of the request (the header wins over the cookie), or 401."""
        secret = bearer.credentials if bearer is not None else cookie
        if not secret:
            raise ApiError(
                401, "unauthenticated", "an API token is required (Authorization: Bearer …)",
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        token = self.tokens.authenticate(secret)
        if token is None:
            raise ApiError(
                401, "unauthenticated", "unknown or revoked API token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )  # fmt: skip
        principal = request.state.principal = Principal(token)  # for pages that show who
        return principal

    def require(self, permission: Permission) -> Callable[..., Principal]:
        """A dependency answering the request's :class:`Principal`, or 401/403."""

        def dependency(request: Request, bearer: Bearer, cookie: Cookie) -> Principal:
            principal = self.principal(request, bearer, cookie)
            if not principal.may(permission):
                raise ApiError(
                    403, "forbidden",
                    f"role {principal.role.value} may not {permission.value}; "
                    f"roles that may: {', '.join(roles_with(permission))}",
                )  # fmt: skip
            return principal

        dependency.__name__ = f"require_{permission.name.lower()}"
        return dependency


def roles_with(permission: Permission) -> list[str]:
    return [role.value for role, allowed in ROLE_PERMISSIONS.items() if permission in allowed]


def requires(permission: Permission) -> Callable[..., Principal]:
    """The same dependency, found at request time from the app the route is mounted in.

    For routers built before the app exists (an adapter's ``routes``):
    ``APIRouter(dependencies=[Depends(requires(Permission.INBOUND_WRITE))])``.
    """

    def dependency(request: Request, bearer: Bearer, cookie: Cookie) -> Principal:
        auth: Auth = request.app.state.opsledger.auth
        return auth.require(permission)(request, bearer, cookie)

    dependency.__name__ = f"requires_{permission.name.lower()}"
    return dependency
