"""The journey file's `[settings]` and `[[triggers]]`: checked, then written."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from listening import schemas
from listening.tables import Setting
from listening.trigger_admin import (
    check_channel,
    check_filters,
    create_trigger,
    get_trigger,
    update_trigger,
)
from listening.triggers import DEFAULT_QUARANTINE_SECONDS
from surveys.clock import Clock, system_clock
from surveys.errors import DomainError, Invalid, NotFound

QUARANTINE_SETTING = "quarantine_seconds"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: Any, field_name: str) -> int:
    """Seconds from "90s", "15m", "2h", "7d", "2w" or a whole number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", value)
        if match:
            return int(match.group(1)) * _UNITS[match.group(2)]
    raise Invalid(
        f'{field_name} must be a duration such as "90s", "15m", "2h", "7d" or "2w"',
        field=field_name,
    )


_TOML_FIELDS = {
    "key",
    "event_type",
    "step",
    "channel",
    "webhook_url",
    "sample_percent",
    "delay",
    "expires_after",
    "max_event_age",
    "quarantine",
    "reminder_after",
    "filters",
    "active",
}


def check_listening_document(doc: dict[str, Any]) -> tuple[int | None, list[schemas.TriggerCreate]]:
    """The global quarantine (None: not set) and the triggers of a journey document, checked."""
    settings = doc.get("settings", {})
    if not isinstance(settings, dict):
        raise Invalid("[settings] must be a table", field="settings")
    quarantine = None
    if "quarantine" in settings:
        quarantine = parse_duration(settings["quarantine"], "settings.quarantine")
    raw = doc.get("triggers", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise Invalid("triggers must be an array of tables ([[triggers]])", field="triggers")
    specs, seen = [], set()
    for i, item in enumerate(raw):
        where = f"triggers[{i}]"
        unknown = set(item) - _TOML_FIELDS
        if unknown:
            raise Invalid(f"{where}: unknown field {sorted(unknown)[0]!r}", field=where)
        for required in ("event_type", "step"):
            if not isinstance(item.get(required), str) or not item[required]:
                raise Invalid(f"{where}.{required} is required", field=f"{where}.{required}")
        key = item.get("key") or f"{item['event_type']}:{item['step']}"
        if key in seen:
            raise Invalid(
                f"{where}: trigger {key!r} is defined twice (give each a distinct key)",
                field=f"{where}.key",
            )
        seen.add(key)
        values: dict[str, Any] = {
            "key": key,
            "event_type": item["event_type"],
            "step": item["step"],
            "channel": item.get("channel", "link"),
            "webhook_url": item.get("webhook_url"),
            "sample_percent": item.get("sample_percent", 100),
            "filters": check_filters(item.get("filters", {}), f"{where}.filters"),
            "active": item.get("active", True),
        }
        for name, column in (
            ("delay", "delay_seconds"),
            ("expires_after", "expires_after_seconds"),
            ("max_event_age", "max_event_age_seconds"),
            ("quarantine", "quarantine_seconds"),
            ("reminder_after", "reminder_after_seconds"),
        ):
            if name in item:
                values[column] = parse_duration(item[name], f"{where}.{name}")
        try:
            spec = msgspec.convert(values, schemas.TriggerCreate)
        except msgspec.ValidationError as exc:
            raise Invalid(f"{where}: {exc}", field=where) from None
        check_channel(spec.channel, spec.webhook_url)
        specs.append(spec)
    return quarantine, specs


async def apply_listening_document(
    quarantine: int | None,
    specs: list[schemas.TriggerCreate],
    summary: Any,
    *,
    clock: Clock = system_clock,
) -> None:
    """Write the settings and triggers, counting into `summary`; call inside the load's transaction.

    Triggers missing from the file are left alone: they may have been made through the API.
    """
    if quarantine is not None:
        row = await Setting.select(Setting.value).where(Setting.key == QUARANTINE_SETTING).first()
        if row is None:
            await Setting.insert(Setting(key=QUARANTINE_SETTING, value=str(quarantine)))
            summary.count("created", "settings")
        elif row["value"] != str(quarantine):
            await Setting.update({Setting.value: str(quarantine)}).where(
                Setting.key == QUARANTINE_SETTING
            )
            summary.count("updated", "settings")
        else:
            summary.count("unchanged", "settings")
    for i, spec in enumerate(specs):
        try:
            summary.count(await _sync_trigger(spec, clock), "triggers")
        except DomainError as exc:
            where = f"triggers[{i}].{exc.field}" if exc.field else f"triggers[{i}]"
            raise Invalid(f"{where}: {exc.message}", field=where) from None


async def _sync_trigger(spec: schemas.TriggerCreate, clock: Clock) -> str:
    try:
        current = await get_trigger(spec.key)
    except NotFound:
        await create_trigger(spec, clock=clock)
        return "created"
    wanted = msgspec.structs.asdict(spec)
    have = msgspec.structs.asdict(current)
    changes = {k: v for k, v in wanted.items() if k != "key" and have.get(k) != v}
    if not changes:
        return "unchanged"
    await update_trigger(spec.key, msgspec.convert(changes, schemas.TriggerUpdate))
    return "updated"


async def global_quarantine_seconds() -> int:
    """The organisation-wide contact-frequency window."""
    row = await Setting.select(Setting.value).where(Setting.key == QUARANTINE_SETTING).first()
    return int(row["value"]) if row else DEFAULT_QUARANTINE_SECONDS
