"""Times as people in the organisation type and read them: in the organisation's time zone.

Forms use `<input type="datetime-local">`, which sends a wall-clock time without an offset
("2026-12-01T09:00"); the organisation's zone turns it into an instant, and back for display.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from surveys.errors import Invalid
from surveys.organisation import current_organisation


async def organisation_time_zone() -> ZoneInfo:
    """The zone the organisation's people read and type times in (the journey file's
    `[organisation] time_zone`; UTC until one is set)."""
    return (await current_organisation()).zone


def from_local_input(value: str, field: str, zone: ZoneInfo, *, label: str) -> datetime:
    """A datetime-local field's value in `zone` (an offset, when given, wins); 422 naming it."""
    text = (value or "").strip()
    if not text:
        raise Invalid(f"Choose the day and time the round {label}.", field=field)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise Invalid(
            f"Choose the day and time the round {label} (for example 1 Dec 2026, 09:00).",
            field=field,
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def to_local_input(moment: datetime, zone: ZoneInfo) -> str:
    """The value a datetime-local field shows for an instant: wall-clock time in `zone`."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    """An instant as people read it: "1 Dec 2026, 09:00 (Europe/Zurich)"."""
    local = moment.astimezone(zone)
    return f"{local.day} {local.strftime('%b %Y, %H:%M')} ({zone.key})"


def round_form_values(form: Any) -> dict[str, Any]:
    """A round form's fields as typed: name, starts_at, ends_at (text) and departments (keys)."""
    texts = {name: form.get(name) for name in ("name", "starts_at", "ends_at")}
    return {name: v.strip() if isinstance(v, str) else "" for name, v in texts.items()} | {
        "departments": [d for d in form.getall("departments", []) if isinstance(d, str)]
    }


async def round_form_times(values: dict[str, Any]) -> tuple[dict[str, datetime], dict[str, str]]:
    """A round form's start and end read in the organisation's zone, and the fields at fault."""
    zone = await organisation_time_zone()
    times: dict[str, datetime] = {}
    errors: dict[str, str] = {}
    for field, label in (("starts_at", "starts"), ("ends_at", "ends")):
        try:
            times[field] = from_local_input(values[field], field, zone, label=label)
        except Invalid as exc:
            errors[field] = exc.message
    if not values["departments"]:
        errors["departments"] = "Choose at least one department."
    return times, errors
