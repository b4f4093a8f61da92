"""What every console page shares: its section, the navigation, forms and their errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from litestar import MediaType, Request
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

from listening.errors import field_of
from surveys import audit
from surveys.audit import actor_of
from surveys.errors import DomainError, Invalid

# Console pages show configuration and customer details: never from a shared cache.
NO_STORE = CacheControlHeader(no_store=True)


@dataclass(frozen=True)
class Section:
    """One section of the console: where it lives, its name in the navigation, its place, and
    what it is for (the overview page lists every section with it)."""

    path: str
    label: str
    order: int
    summary: str


def sections() -> list[Section]:
    """Every section of the console, in navigation order."""
    from listening.admin import SECTIONS

    return SECTIONS


def page(
    request: Request,
    template: str,
    section: Section,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """A console page: the template with the navigation, the admin and the section around it."""
    return Template(
        template,
        context={
            "sections": sections(),
            "current": section,
            "account": getattr(request.user, "account", None),
            "errors": {},
            "values": {},
            "notice": None,
            **context,
        },
        status_code=status_code,
        # Handlers that answer a page or a redirect say `-> Any`; the page is still HTML.
        media_type=MediaType.HTML,
    )


def actor(request: Request) -> str:
    """Who is making a change: the admin's email."""
    return actor_of(request.user)


def errors_of(exc: DomainError) -> dict[str, str]:
    """A refusal as field -> message for the form; "" holds what concerns no one field."""
    return dict(exc.errors) if exc.errors else {"": exc.message}


def convert(values: dict[str, Any], kind: type) -> Any:
    """Form values as a Struct; a value the Struct refuses is Invalid naming its field."""
    try:
        return msgspec.convert(values, kind)
    except msgspec.ValidationError as exc:
        field = field_of({"message": str(exc)}) or ""
        message = str(exc).split(" - at ")[0]
        raise Invalid(f"{field}: {message}" if field else message, field=field or None) from None


def text(form: Any, name: str) -> str:
    """A form field as stripped text ("" when missing)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional(value: str) -> str | None:
    """Empty text as None."""
    return value or None


def parse_day(
    value: str, field: str, out_of_range: str | None = None
) -> tuple[datetime | None, str | None]:
    """A date input's day (YYYY-MM-DD, or nothing) and the message to show beside its field."""
    if not value:
        return None, None
    try:
        return audit.check_period(datetime.fromisoformat(value), field), None
    except ValueError:
        return None, "Enter a date as YYYY-MM-DD."
    except audit.OutOfRange as exc:
        return None, out_of_range or exc.message
