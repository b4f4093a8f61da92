"""Cross-site protection for the public survey forms, with a friendly page when it fails.

The forms use the same double-submit token as the rest of the app (cookie `lp_csrf`, field
`_csrf_token`, signed with the secret key as Litestar's CSRF middleware does), but check it
in the handlers, so a customer whose browser dropped the cookie sees the form again with their
answers and a fresh token instead of a bare 403. The shell puts one `FormTokens` in the app's
state (`form_tokens`); the survey handlers use it without importing the shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from secrets import compare_digest
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.middleware.csrf import (
    CSRF_SECRET_LENGTH,
    generate_csrf_hash,
    generate_csrf_token,
)
from litestar.utils.scope.state import ScopeState

COOKIE_NAME = "lp_csrf"
FIELD_NAME = "_csrf_token"


def _secret_part(token: str | None, secret: str) -> str | None:
    if not token or len(token) <= CSRF_SECRET_LENGTH:
        return None
    value, signature = token[:CSRF_SECRET_LENGTH], token[CSRF_SECRET_LENGTH:]
    if not compare_digest(signature, generate_csrf_hash(token=value, secret=secret)):
        return None
    return value


def form_token_ok(cookie: str | None, field: str | None, secret: str) -> bool:
    """Whether the form's token matches the cookie and both carry our signature."""
    from_cookie = _secret_part(cookie, secret)
    from_field = _secret_part(field, secret)
    return (
        from_cookie is not None
        and from_field is not None
        and compare_digest(from_cookie, from_field)
    )


def signed(token: str | None, secret: str) -> bool:
    """Whether a token (from the cookie) carries our signature, so a page may reuse it."""
    return _secret_part(token, secret) is not None


def fresh_token(secret: str) -> str:
    """A new signed token for a form shown again after a failed check."""
    return generate_csrf_token(secret=secret)


def token_cookie(token: str, *, secure: bool) -> Cookie:
    """The cookie that goes with a fresh token, with the attributes the middleware uses."""
    return Cookie(
        key=COOKIE_NAME, value=token, path="/", httponly=True, samesite="lax", secure=secure
    )


def token_cookie_header(token: str, *, secure: bool) -> str:
    """`token_cookie` as a Set-Cookie value, written directly (tokens are hex)."""
    return f"{COOKIE_NAME}={token}; HttpOnly; Path=/; SameSite=Lax" + ("; Secure" if secure else "")


def hidden_input(token: str) -> str:
    """The hidden form field carrying a token (tokens are hex, nothing to escape)."""
    return f'<input type="hidden" name="{FIELD_NAME}" value="{token}">'


@dataclass(frozen=True)
class FormTokens:
    """The public forms' tokens, signed with the app's secret key."""

    secret: str
    secure: bool
    field_name: str = FIELD_NAME

    def for_page(self, request: Request) -> tuple[str, str | None]:
        """The token a page carries: the browser's cookie when signed, else a fresh one.

        The second value is the Set-Cookie header to send with a fresh token (None otherwise).
        """
        cookie = request.cookies.get(COOKIE_NAME)
        if cookie and signed(cookie, self.secret):
            return cookie, None
        token = fresh_token(self.secret)
        return token, token_cookie_header(token, secure=self.secure)

    def check(self, request: Request, form: Any) -> Cookie | None:
        """Accept the form's token, or make a fresh one; return the cookie to set when it failed.

        Either way the token is left where templates' `csrf_input` reads it.
        """
        state = ScopeState.from_scope(request.scope)
        submitted = form.get(FIELD_NAME)
        if form_token_ok(request.cookies.get(COOKIE_NAME), submitted, self.secret):
            state.csrf_token = submitted
            return None
        token = fresh_token(self.secret)
        state.csrf_token = token
        return token_cookie(token, secure=self.secure)
