"""Litestar's allowed-hosts check, on the host name alone.

A request whose `Host` header names a host outside the allowed list answers 400 before anything
else reads it. Litestar's own middleware compares the whole header, port included, so a server
on a port chosen at start (tests, benchmarks, `uvicorn --port`) would need every port listed;
the port a client names carries no authority here (links never come from the `Host` header).
"""

from __future__ import annotations

from litestar.middleware.allowed_hosts import AllowedHostsMiddleware
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_400_BAD_REQUEST
from litestar.types import Receive, Scope, Send


def host_name(header: str) -> str:
    """The host name of a Host header: `example.com:8000` → `example.com`, `[::1]:80` → `[::1]`."""
    if header.endswith("]") or (header.count(":") != 1 and not header.startswith("[")):
        return header.lower()
    return header.rsplit(":", 1)[0].lower()


class AllowedHostNames(AllowedHostsMiddleware):
    """Refuse a request whose Host header names a host outside the allowed list (400)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when its host name is allowed."""
        if self.allowed_hosts_regex is None:
            await self.app(scope, receive, send)
            return
        raw = next((v for n, v in scope.get("headers", ()) if n == b"host"), b"")
        name = host_name(raw.decode("latin-1").strip())
        if name and self.allowed_hosts_regex.fullmatch(name):
            await self.app(scope, receive, send)
            return
        refusal = ASGIResponse(
            body=b'{"status_code":400,"detail":"invalid host header","field":"host"}',
            status_code=HTTP_400_BAD_REQUEST,
            media_type="application/json",
        )
        await refusal(scope, receive, send)
