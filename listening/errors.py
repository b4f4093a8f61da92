"""How refusals reach clients: JSON naming the field for the API, a page for people."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_500_INTERNAL_SERVER_ERROR

from listening.rate_limit import RateLimited
from surveys.errors import DomainError
from surveys.survey_controllers import problem_page

log = logging.getLogger(__name__)

TITLES = {
    400: "Something is wrong with that request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Already done",
    410: "This link has expired",
    413: "Too large",
    422: "Please check your answers",
    429: "Too many requests",
    500: "Something went wrong on our side",
}


# What people read when the refusal's own text is written for programs (Litestar's errors).
PLAIN_MESSAGES = {
    400: "The address or the form had something we could not read. Please try again.",
    401: "Please log in to open this page.",
    403: "Your account cannot open this page.",
    404: "There is nothing at this address. The link may be old or mistyped.",
    405: "This page cannot be used that way.",
    413: "That was more than we accept in one go.",
    429: "Too many requests in a short time. Please wait a minute and try again.",
}


def wants_html(request: Request) -> bool:
    """Content negotiation: people's browsers ask for HTML; the API and machines get JSON."""
    path = request.url.path
    if path.startswith(("/api/", "/schema", "/health")):
        return False
    best = request.accept.best_match(["application/json", "text/html"], default="")
    return best == "text/html"


def _back(request: Request) -> tuple[str, str]:
    """A way back: the page the person came from on this site, else the start page."""
    referrer = request.headers.get("referer", "")
    site_url = str(request.base_url).rstrip("/")
    if referrer.startswith(site_url + "/") and referrer.rstrip("/") != str(request.url).rstrip("/"):
        return referrer[len(site_url) :], "Go back"
    return "/", "Go to the start page"


def _page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Any:
    if status == 401 and request.method == "GET":
        return Redirect(path=f"/login?next={request.url.path}")
    back, back_label = _back(request)
    return Template(
        "error.html",
        context={
            "title": TITLES.get(status, "Error"),
            "message": message,
            "back": back,
            "back_label": back_label,
        },
        status_code=status,
        headers=headers,
        media_type=MediaType.HTML,
    )


def domain_error_handler(request: Request, exc: DomainError) -> Any:
    """A DomainError becomes its status with {"detail", "field", "errors"}."""
    if wants_html(request):
        return _page(request, exc.status_code, exc.message)
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.message}
    if exc.field:
        body["field"] = exc.field
    if exc.errors:
        body["errors"] = [{"field": f, "message": m} for f, m in exc.errors.items()]
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON)


_NAMED_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]+)`")
_AT_PATH = re.compile(r"at `\$\.?([^`]*)`")


def field_of(extra: dict[str, Any]) -> str | None:
    """The field a validation error concerns: msgspec names it in its message, not in `key`."""
    message = str(extra.get("message", ""))
    path = _AT_PATH.search(message)
    prefix = path.group(1) if path else ""
    named = _NAMED_FIELD.search(message)
    if named:
        return f"{prefix}.{named.group(1)}" if prefix else named.group(1)
    if prefix:
        return prefix
    return extra.get("key") or None


def http_error_handler(request: Request, exc: HTTPException) -> Any:
    """Litestar's HTTP errors keep their JSON shape (with `extra` naming fields); pages get HTML."""
    headers = dict(exc.headers or {})
    if wants_html(request):
        # Our own refusals are written for people; Litestar's own (validation) are not.
        own = exc.detail and exc.detail[:1].isupper() and exc.detail.endswith(".")
        message = str(exc.detail) if own else PLAIN_MESSAGES.get(exc.status_code, str(exc.detail))
        return _page(request, exc.status_code, message, headers)
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
        if isinstance(exc.extra, list) and exc.extra and isinstance(exc.extra[0], dict):
            field = field_of(exc.extra[0])
            if field:
                body["field"] = field
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
    return Response(body, status_code=exc.status_code, headers=headers, media_type=MediaType.JSON)


def rate_limited_handler(request: Request, exc: RateLimited) -> Any:
    """A refused customer link gets the customer's page in their language; others as any 429."""
    if exc.wording is not None and wants_html(request):
        return problem_page(exc.wording, exc.status_code, dict(exc.headers or {}))
    return http_error_handler(request, exc)


def bad_encoding_handler(request: Request, exc: Exception) -> Response:
    """Invalid UTF-8 or absurdly nested JSON is the client's error, not ours."""
    reason = (
        "body is not valid UTF-8"
        if isinstance(exc, UnicodeDecodeError)
        else "body nests too deeply"
    )
    return Response(
        {"status_code": HTTP_400_BAD_REQUEST, "detail": reason, "field": "body"},
        status_code=HTTP_400_BAD_REQUEST,
    )


def internal_error_handler(request: Request, exc: Exception) -> Any:
    """Log the bug, tell the client nothing about internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if wants_html(request):
        return _page(request, 500, "Please try again in a moment.")
    return Response(
        {"status_code": 500, "detail": "internal error"}, status_code=HTTP_500_INTERNAL_SERVER_ERROR
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    RateLimited: rate_limited_handler,
    UnicodeDecodeError: bad_encoding_handler,
    RecursionError: bad_encoding_handler,
    HTTP_500_INTERNAL_SERVER_ERROR: internal_error_handler,
}
