"""The filters of a dashboard view, as they travel in the URL so a view can be shared.

`from`, `to` (ISO dates, inclusive; default the 90 days up to today), `journey` (a key),
`department` (a key; the API only, pages name it in the path), `segment.<attribute>=<value>`
(customer responses carrying that attribute value; several combine with AND), `compare`
(`previous` for the period of the same length just before, or `YYYY-MM-DD..YYYY-MM-DD`) and
`period` (`week` or `month` for trends; default week up to half a year, month beyond).

Dates lie between FIRST_DAY and LAST_DAY (1970-01-01 and 2100-12-31); a view or a comparison
spans at most MAX_DAYS. A bad value answers 400 naming its parameter (`BadFilter`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from surveys.errors import Invalid

DEFAULT_DAYS = 90
MAX_DAYS = 3660
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2100, 12, 31)
SEGMENT_PREFIX = "segment."
SEGMENT_NAME_MAX = 100
SEGMENT_VALUE_MAX = 200


class BadFilter(Invalid):
    """A filter parameter a view cannot use: a bad request (400) naming the parameter."""

    status_code = 400


@dataclass(frozen=True)
class Period:
    """One period of a trend: its index, first and last day, and its label."""

    index: int
    start: date
    end: date
    label: str


@dataclass(frozen=True)
class Filters:
    """What a view shows: a date range, optional journey, department and segments, a comparison."""

    start: date
    end: date
    journey: str | None = None
    department: str | None = None
    segments: tuple[tuple[str, str], ...] = ()
    compare: tuple[date, date] | None = None
    compare_text: str = ""
    period: str = "week"
    # The moment of the request (not a filter: never in the URL). Employee figures come only
    # from rounds that ended by then, whatever `end` says; None means the system clock.
    now: datetime | None = None

    def query(self, **changes: object) -> str:
        """The URL query of these filters (no department: pages name it in their path)."""
        view = replace(self, **changes) if changes else self
        pairs: list[tuple[str, str]] = [
            ("from", view.start.isoformat()),
            ("to", view.end.isoformat()),
        ]
        if view.journey:
            pairs.append(("journey", view.journey))
        pairs += [(SEGMENT_PREFIX + name, value) for name, value in view.segments]
        if view.compare_text:
            pairs.append(("compare", view.compare_text))
        pairs.append(("period", view.period))
        return urlencode(pairs)

    def periods(self) -> list[Period]:
        """The weeks (Monday first) or calendar months of the range, clipped to it."""
        return periods_of(self.start, self.end, self.period)


def periods_of(start: date, end: date, unit: str) -> list[Period]:
    """The weeks or months covering start…end, each clipped to the range."""
    found: list[Period] = []
    monday = start - timedelta(days=start.weekday())
    period_start = start.replace(day=1) if unit == "month" else monday
    while period_start <= end:
        if unit == "month":
            following = (period_start.replace(day=28) + timedelta(days=4)).replace(day=1)
            label = period_start.strftime("%Y-%m")
        else:
            following = period_start + timedelta(days=7)
            iso = period_start.isocalendar()
            label = f"{iso.year}-W{iso.week:02d}"
        last = min(following - timedelta(days=1), end)
        found.append(Period(len(found), max(period_start, start), last, label))
        period_start = following
    return found


def _date(params: Mapping[str, str], name: str) -> date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadFilter(f"{name} must be a date like 2026-01-31", field=name) from None
    return _within(day, name)


def _within(day: date, name: str) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadFilter(
            f"{name} must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}",
            field=name,
        )
    return day


def _range(raw: str, start: date, end: date) -> tuple[date, date]:
    """The comparison range: 'previous' or 'YYYY-MM-DD..YYYY-MM-DD'."""
    if raw == "previous":
        length = end - start
        return start - length - timedelta(days=1), start - timedelta(days=1)
    first, sep, last = raw.partition("..")
    try:
        if not sep:
            raise ValueError
        low, high = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError:
        raise BadFilter(
            "compare must be 'previous' or a range like 2026-01-01..2026-03-31", field="compare"
        ) from None
    _within(low, "compare"), _within(high, "compare")
    if low > high:
        raise BadFilter("compare must start before it ends", field="compare")
    if (high - low).days > MAX_DAYS:
        raise BadFilter(f"compare must span at most {MAX_DAYS} days", field="compare")
    return low, high


def _text(params: Mapping[str, str], name: str, limit: int) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if len(value) > limit or "\x00" in value:
        raise BadFilter(f"{name} is not a valid key", field=name)
    return value


def parse_filters(params: Mapping[str, str], *, today: date) -> Filters:
    """Filters from URL query parameters; a bad value is BadFilter (400) naming its parameter."""
    end = _date(params, "to") or today
    start = _date(params, "from") or max(FIRST_DAY, end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise BadFilter("from must not be after to", field="from")
    if (end - start).days > MAX_DAYS:
        raise BadFilter(f"from must be at most {MAX_DAYS} days before to", field="from")
    segments = []
    for name, value in params.items():
        if not name.startswith(SEGMENT_PREFIX):
            continue
        attribute = name[len(SEGMENT_PREFIX) :]
        if not attribute or len(attribute) > SEGMENT_NAME_MAX or "\x00" in attribute:
            raise BadFilter("a segment filter is written segment.<attribute>=<value>", field=name)
        if len(value) > SEGMENT_VALUE_MAX or "\x00" in value:
            raise BadFilter(f"{name} is too long", field=name)
        segments.append((attribute, value))
    # The filter form cannot name a parameter after the attribute: it sends
    # segment=channel=phone (several joined by ";"), read like segment.channel=phone.
    for pair in (params.get("segment") or "").split(";"):
        attribute, sep, value = pair.strip().partition("=")
        if not pair.strip():
            continue
        if not sep or not attribute.strip():
            raise BadFilter(
                "write a segment as attribute=value, e.g. channel=phone", field="segment"
            )
        if len(attribute) > SEGMENT_NAME_MAX or len(value) > SEGMENT_VALUE_MAX:
            raise BadFilter("the segment is too long", field="segment")
        if "\x00" in pair:
            raise BadFilter("the segment must not contain NUL characters", field="segment")
        segments.append((attribute.strip(), value.strip()))
    compare_text = (params.get("compare") or "").strip()
    compare = _range(compare_text, start, end) if compare_text else None
    period = (params.get("period") or "").strip()
    if period not in ("", "week", "month"):
        raise BadFilter("period must be week or month", field="period")
    if not period:
        period = "week" if (end - start).days <= 183 else "month"
    return Filters(
        start=start,
        end=end,
        journey=_text(params, "journey", 100),
        department=_text(params, "department", 100),
        segments=tuple(sorted(dict(segments).items())),
        compare=compare,
        compare_text=compare_text,
        period=period,
    )
