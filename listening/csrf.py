"""CSRF protection for session requests; API-key requests carry no ambient authority."""

from __future__ import annotations

from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import Receive, Scope, Send


class SessionCSRFMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, skipped for requests that authenticate with a bearer key.

    A browser cannot attach an Authorization header to a cross-site request without a CORS
    preflight this app never grants, and such requests ignore the session cookie entirely.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass bearer-key requests through; check everything else as Litestar does."""
        if scope["type"] == "http":
            for name, value in scope.get("headers", ()):
                if name == b"authorization" and value[:7].lower() == b"bearer ":
                    await self.app(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)
