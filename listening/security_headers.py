"""Security headers on every answer, error pages and 404s included.

Three Content-Security-Policies, chosen by path:

- everything else (survey and feedback pages, login, JSON): no inline script or style at all;
- `/dashboards`: plotly.js writes a `<style>` element and style attributes into its SVG, which a
  strict `style-src` refuses, and its PNG download uses a `blob:` image; script stays `'self'`;
- `/schema/swagger`: the API explorer loads Swagger UI from its CDN and starts it with an inline
  script; that page shows only the OpenAPI schema, never stored data.

Token pages (`/s/{token}`, `/api/responses/{token}`) send `Referrer-Policy: no-referrer` and
`Cache-Control: no-store`, so the token never leaves in a Referer nor stays in a shared cache.
"""

from __future__ import annotations

from functools import cache

from litestar.types import Message, Scope

from listening.rate_limit import TOKEN_PREFIXES

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
CHART_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
SWAGGER_CDN = "https://cdn.jsdelivr.net"
API_DOCS_CSP = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {SWAGGER_CDN}; "
    f"style-src 'self' 'unsafe-inline' {SWAGGER_CDN}; img-src 'self' data: {SWAGGER_CDN}; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)

CHART_PREFIXES = ("/dashboards",)
API_DOCS_PREFIXES = ("/schema/swagger",)

COMMON_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
}


def policy_for(path: str) -> str:
    """The Content-Security-Policy for a request path."""
    if path.startswith(CHART_PREFIXES):
        return CHART_CSP
    if path.startswith(API_DOCS_PREFIXES):
        return API_DOCS_CSP
    return STRICT_CSP


@cache
def _header_items(policy: str, token_page: bool) -> tuple[tuple[bytes, bytes], ...]:
    headers = dict(COMMON_HEADERS)
    headers[b"content-security-policy"] = policy.encode()
    if token_page:
        headers[b"referrer-policy"] = b"no-referrer"
        headers[b"cache-control"] = b"no-store"
    else:
        headers[b"referrer-policy"] = b"same-origin"
    return tuple(headers.items())


def headers_for(path: str) -> dict[bytes, bytes]:
    """Every security header an answer to `path` carries."""
    return dict(_header_items(policy_for(path), path.startswith(TOKEN_PREFIXES)))


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A Litestar `before_send` hook: add the headers to each HTTP answer's start message.

    `before_send` runs for every answer of the app, including routing 404s and errors raised in
    middleware, which an `after_request` hook or route middleware would miss. A header the
    handler set itself wins.
    """
    if message["type"] != "http.response.start":
        return
    path = scope.get("path", "")
    token_page = path.startswith(TOKEN_PREFIXES)
    wanted = _header_items(policy_for(path), token_page)
    headers = list(message.get("headers", ()))
    if token_page:
        # no-store replaces whatever caching the handler chose.
        headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
    existing = {name.lower() for name, _ in headers}
    message["headers"] = headers + [(k, v) for k, v in wanted if k not in existing]
