"""The rows a customer response writes, computed from the answers alone (no I/O)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from surveys.answers import GivenAnswer
from surveys.follow_ups import alerting
from surveys.tallies import response_source

SEGMENT_NAME_MAX = 100
SEGMENT_VALUE_MAX = 200


def segments_of(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The event attributes a response keeps for filtering, as short strings."""
    found: dict[str, str] = {}
    for name, value in attributes.items():
        if value is None or isinstance(value, dict | list):
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        found[str(name)[:SEGMENT_NAME_MAX]] = text[:SEGMENT_VALUE_MAX]
    return found


@dataclass(frozen=True)
class ResponseRows:
    """A response's row, its answers, segments and tally increments, and the answers that
    open follow-ups; the response's id is given out when it is written."""

    survey_id: int
    step_id: int
    invitation_id: int | None
    customer_id: int | None
    source: str  # "invited" or "unsolicited"
    locale: str | None
    segments: dict[str, str]
    submitted_at: datetime
    given: Sequence[GivenAnswer]
    # (question, score, choice, text)
    answers: list[tuple[int, int | None, str | None, str | None]]
    # (step, question, tally source, round 0, day, level, count)
    tallies: list[tuple[int, int, str, int, date, int, int]]
    alerts: list[GivenAnswer]

    def response_values(self) -> tuple:
        """The response row in RESPONSE_COLUMNS order."""
        return (
            self.survey_id,
            self.step_id,
            self.invitation_id,
            self.customer_id,
            self.source,
            self.locale,
            json.dumps(self.segments, ensure_ascii=False),
            self.submitted_at,
        )


def response_rows(
    *,
    survey_id: int,
    step_id: int,
    given: Sequence[GivenAnswer],
    source: str,
    now: datetime,
    invitation_id: int | None = None,
    customer_id: int | None = None,
    locale: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> ResponseRows:
    """The rows of one response: answers as given, segments from the event's attributes, and
    one tally increment per question and score level, counted on the day of submission."""
    tally_source = response_source(source)
    counts = Counter((a.question.id, a.score) for a in given if a.score is not None)
    return ResponseRows(
        survey_id=survey_id,
        step_id=step_id,
        invitation_id=invitation_id,
        customer_id=customer_id,
        source=source,
        locale=locale,
        segments=segments_of(attributes or {}),
        submitted_at=now,
        given=given,
        answers=[(a.question.id, a.score, a.choice, a.text) for a in given],
        tallies=[
            (step_id, question, tally_source, 0, now.date(), level, n)
            for (question, level), n in sorted(counts.items())
        ],
        alerts=alerting(given),
    )
