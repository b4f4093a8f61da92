"""Cross-site protection for the public survey forms, with a friendly page when it fails.

The forms use the same double-submit token as the rest of the app (cookie `lp_csrf`, field
`_csrf_token`, signed with the secret key as Litestar's CSRF middleware does), but check it
here, so a customer whose browser dropped the cookie sees the form again with their answers
and a fresh token instead of a bare 403.
"""

from __future__ import annotations

from secrets import compare_digest

from litestar.datastructures import Cookie
from litestar.middleware.csrf import (
    CSRF_SECRET_LENGTH,
    generate_csrf_hash,
    generate_csrf_token,
)

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
