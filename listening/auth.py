"""Who is asking: session users and API keys, and the guards that check their roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from listening.apikeys import KeyIdentity, identify
from listening.sessions import USER_KEY, record_activity, session_alive
from surveys.accounts import Account, get_account

SESSION_USER_KEY = USER_KEY


@dataclass(frozen=True)
class Principal:
    """A logged-in user or an API key; an admin key acts as an admin for automation."""

    account: Account | None = None
    key: KeyIdentity | None = None

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles the request acts with."""
        if self.account is not None:
            return self.account.roles
        if self.key is not None and self.key.scope == "admin":
            return ("admin",)
        return ()

    def has(self, role: str) -> bool:
        """Whether the request acts with this role."""
        return role in self.roles

    @property
    def department_id(self) -> int | None:
        """The department of an employee account."""
        return self.account.department_id if self.account else None


def bearer_token(connection: ASGIConnection) -> str | None:
    """The key in an `Authorization: Bearer` header, or None when there is no such header."""
    # Straight from the scope (ASGI header names are lower case): building the request's
    # header map costs more than the rest of the check, on every event sent.
    raw = next((v for n, v in connection.scope.get("headers", ()) if n == b"authorization"), None)
    if raw is None:
        return None
    scheme, _, value = raw.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthorizedException("the Authorization header must be 'Bearer <key>'")
    return value.strip()


class PrincipalMiddleware(AbstractAuthenticationMiddleware):
    """Resolve the API key or the session user; anonymous requests go on with no user."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        """Return the principal; a wrong or revoked key answers 401 here."""
        token = bearer_token(connection)
        if token is not None:
            key = await identify(token)
            if key is None:
                raise NotAuthorizedException("unknown or revoked API key")
            return AuthenticationResult(user=Principal(key=key), auth=key)
        session = connection.scope.get("session") or {}
        user_id = session.get(SESSION_USER_KEY) if isinstance(session, dict) else None
        if isinstance(user_id, int):
            account = await get_account(user_id)
            now = connection.app.state["clock"]()
            if account is not None and session_alive(
                session, account, now, connection.app.state["settings"]
            ):
                record_activity(session, now)
                return AuthenticationResult(user=Principal(account=account), auth=None)
            # Idle, too old, ended by a password change, or the account is gone: the session
            # is deleted on the way out and the request goes on anonymous.
            connection.scope["session"] = {}
        return AuthenticationResult(user=None, auth=None)


def principal_of(connection: ASGIConnection) -> Principal | None:
    """The request's principal, or None for anonymous requests."""
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


def _require(connection: ASGIConnection, roles: tuple[str, ...]) -> Principal:
    principal = principal_of(connection)
    if principal is None:
        raise NotAuthorizedException("log in or send an API key")
    if not any(principal.has(role) for role in roles):
        raise PermissionDeniedException(f"this needs the {' or '.join(roles)} role")
    return principal


def admin_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Admins only (an admin session or an admin API key)."""
    _require(connection, ("admin",))


def executive_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Executives and admins."""
    _require(connection, ("executive", "admin"))


def employee_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Employees (with a department)."""
    principal = _require(connection, ("employee",))
    if principal.department_id is None:
        raise PermissionDeniedException("this account has no department")


def staff_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Any logged-in role: admin, executive or employee."""
    _require(connection, ("admin", "executive", "employee"))


def suppression_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """An API key of scope suppress or admin: ingest keys send events only."""
    principal = principal_of(connection)
    if principal is None or principal.key is None:
        raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>'")
    if principal.key.scope not in ("suppress", "admin"):
        raise PermissionDeniedException("suppressions need an API key of scope suppress or admin")


def provide_principal(request: Any) -> Principal | None:
    """Dependency: the request's principal."""
    return principal_of(request)
