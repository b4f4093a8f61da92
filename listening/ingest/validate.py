"""Decoding and checking touchpoint events: a clear 4xx naming the field, never a 500."""

from __future__ import annotations

import re

import msgspec

from listening.schemas import EventIn
from listening.triggers import valid_time_zone
from surveys.errors import DomainError, Invalid

MAX_BATCH = 10_000
_decoder = msgspec.json.Decoder(EventIn)
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$")


class TooMany(DomainError):
    """A batch of more than 10,000 events (413)."""

    status_code = 413


class BadJson(DomainError):
    """A body that is not JSON at all (400)."""

    status_code = 400


def _field_of(message: str) -> str:
    # msgspec says "... - at `$.customer.id`" or "Object missing required field `id` - at `$`".
    path = ""
    at = re.search(r"at `\$([^`]*)`", message)
    if at:
        path = re.sub(r"\[[^\]]*\]", "", at.group(1)).lstrip(".")
    missing = re.search(r"missing required field `([^`]+)`", message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or "body"


def _no_nul(value: str, name: str) -> None:
    if "\x00" in value:
        raise Invalid(f"{name} must not contain NUL characters", field=name)


def check_event(event: EventIn) -> EventIn:
    """The checks JSON types cannot express: time zones, NUL characters, email and locale."""
    if event.occurred_at.tzinfo is None:
        raise Invalid(
            "occurred_at needs a time zone (RFC 3339, e.g. Z or +02:00)", field="occurred_at"
        )
    _no_nul(event.id, "id")
    _no_nul(event.type, "type")
    customer = event.customer
    _no_nul(customer.id, "customer.id")
    if customer.email is not None:
        _no_nul(customer.email, "customer.email")
        local, at, domain = customer.email.rpartition("@")
        if not at or not local or "." not in domain or re.search(r"\s", customer.email):
            raise Invalid("customer.email is not an email address", field="customer.email")
    if customer.name is not None:
        _no_nul(customer.name, "customer.name")
    if customer.locale is not None and not _LOCALE.match(customer.locale):
        raise Invalid("customer.locale must look like en or de-CH", field="customer.locale")
    if customer.time_zone is not None and not valid_time_zone(customer.time_zone):
        raise Invalid(
            "customer.time_zone must be an IANA zone such as Europe/Berlin",
            field="customer.time_zone",
        )
    for key, value in event.attributes.items():
        _no_nul(key, "attributes")
        if isinstance(value, str):
            if len(value) > 1000:
                raise Invalid(
                    f"attributes.{key} is longer than 1000 characters", field=f"attributes.{key}"
                )
            _no_nul(value, f"attributes.{key}")
    return event


def parse_event(raw: bytes | str) -> EventIn:
    """Decode and check one event; Invalid (422) or BadJson (400) naming the field."""
    try:
        return check_event(_decoder.decode(raw))
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise Invalid(message, field=_field_of(message)) from None
    except msgspec.DecodeError as exc:
        raise BadJson(f"body is not valid JSON: {exc}", field="body") from None
    except (UnicodeDecodeError, RecursionError):
        raise BadJson("body is not valid UTF-8 JSON", field="body") from None


def split_batch(body: bytes, content_type: str) -> list[bytes]:
    """The raw events of a batch body: a JSON array, or NDJSON (one event a line)."""
    if "ndjson" in content_type or "jsonlines" in content_type:
        lines = [line for line in body.splitlines() if line.strip()]
    else:
        try:
            lines = _raw_list.decode(body)
        except msgspec.ValidationError:
            raise Invalid("the body must be a JSON array of events", field="body") from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise BadJson(f"body is not valid JSON: {exc}", field="body") from None
    if len(lines) > MAX_BATCH:
        raise TooMany(
            f"a batch holds at most {MAX_BATCH} events, this one has {len(lines)}", field="body"
        )
    return lines
