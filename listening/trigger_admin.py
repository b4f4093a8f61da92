"""The admin service for trigger rules: list, create, change and deactivate them."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from listening import schemas
from listening.tables import Trigger
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Invalid, NotFound
from surveys.tables import Step, Survey

CHANNELS = ("email", "link", "webhook")


def _check_scalar(value: Any, where: str) -> None:
    if not isinstance(value, str | int | float | bool):
        raise Invalid(f"{where} must be a string, number or boolean", field=where)


def check_filters(filters: Any, where: str = "filters") -> dict[str, Any]:
    """Check filters: {attribute: value | [values] | {"not": [values]} | {"in": [values]}}."""
    if not isinstance(filters, dict):
        raise Invalid(f"{where} must be a table of attribute conditions", field=where)
    for name, condition in filters.items():
        at = f"{where}.{name}"
        if isinstance(condition, dict):
            if not condition or set(condition) - {"not", "in"}:
                raise Invalid(f'{at} may only have "not" and "in"', field=at)
            for op, values in condition.items():
                for v in values if isinstance(values, list) else [values]:
                    _check_scalar(v, f"{at}.{op}")
        elif isinstance(condition, list):
            if not condition:
                raise Invalid(f"{at} must list at least one value", field=at)
            for v in condition:
                _check_scalar(v, at)
        else:
            _check_scalar(condition, at)
    return filters


async def _step_id(key: str) -> int:
    row = await Step.select(Step.id).where(Step.key == key).first()
    if row is None:
        raise NotFound(f"no step {key!r}", field="step")
    has_survey = await Survey.exists().where((Survey.step == row["id"]) & (Survey.active == True))
    if not has_survey:
        raise Invalid(f"step {key!r} has no active survey to send", field="step")
    return row["id"]


def check_channel(channel: str, webhook_url: str | None) -> None:
    """A channel the outbox knows, with an http(s) webhook URL where it needs one."""
    if channel not in CHANNELS:
        raise Invalid(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
    if channel == "webhook" and not webhook_url:
        raise Invalid("a webhook trigger needs a webhook_url", field="webhook_url")
    if webhook_url and not re.match(r"^https?://[^\s/]+", webhook_url):
        raise Invalid("webhook_url must be an http(s) URL", field="webhook_url")


def _select():
    # Rows shaped as schemas.Trigger: the step's key under "step", filters as JSON values.
    return Trigger.select(
        Trigger.all_columns(exclude=[Trigger.step]), Trigger.step.key.as_alias("step")
    ).output(load_json=True)


async def list_triggers() -> list[schemas.Trigger]:
    """Every trigger, active or not."""
    return msgspec.convert(await _select().order_by(Trigger.id), list[schemas.Trigger])


async def get_trigger(key: str) -> schemas.Trigger:
    """One trigger by key."""
    row = await _select().where(Trigger.key == key).first()
    if row is None:
        raise NotFound(f"no trigger {key!r}", field="key")
    return msgspec.convert(row, schemas.Trigger)


async def create_trigger(
    data: schemas.TriggerCreate, *, clock: Clock = system_clock
) -> schemas.Trigger:
    """Create a trigger; 409 when the key is taken."""
    check_channel(data.channel, data.webhook_url)
    check_filters(data.filters)
    step_id = await _step_id(data.step)
    if await Trigger.exists().where(Trigger.key == data.key):
        raise Conflict(f"a trigger {data.key!r} exists", field="key")
    values = msgspec.structs.asdict(data)
    values.pop("step")
    await Trigger.insert(Trigger(**values, step=step_id, created_at=clock()))
    return await get_trigger(data.key)


async def update_trigger(key: str, data: schemas.TriggerUpdate) -> schemas.Trigger:
    """Change the given fields of a trigger."""
    current = await get_trigger(key)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    check_channel(
        changes.get("channel", current.channel), changes.get("webhook_url", current.webhook_url)
    )
    if "filters" in changes:
        check_filters(changes["filters"])
    if "step" in changes:
        changes["step"] = await _step_id(changes["step"])
    if changes:
        await Trigger.update({getattr(Trigger, k): v for k, v in changes.items()}).where(
            Trigger.key == key
        )
    return await get_trigger(key)


async def deactivate_trigger(key: str) -> schemas.Trigger:
    """Stop a trigger from inviting; its invitations stay."""
    await get_trigger(key)
    await Trigger.update({Trigger.active: False}).where(Trigger.key == key)
    return await get_trigger(key)
