"""msgspec Structs at the HTTP edge of rating rounds, self-ratings and employee accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct, field


class RoundCreate(Struct, forbid_unknown_fields=True):
    """A new rating round: RFC 3339 times with an offset, and the departments taking part."""

    name: str
    starts_at: str
    ends_at: str
    departments: list[str]


class RoundUpdate(Struct, forbid_unknown_fields=True):
    """A change to a round that has not closed: a new name, or a later end (RFC 3339)."""

    name: str | None = None
    ends_at: str | None = None


class RatingRound(Struct):
    """A rating round as the API shows it."""

    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    departments: list[str]
    status: str  # scheduled | open | closed


class DepartmentParticipation(Struct):
    """Invited and answered counts of one department in a round (counts only, never names)."""

    department: str
    name: str
    invited: int
    answered: int


class RoundParticipation(Struct):
    """Participation in one round, per department."""

    round: int
    name: str
    status: str
    departments: list[DepartmentParticipation]


class SelfRatingCreate(Struct, forbid_unknown_fields=True):
    """An employee's answers for one step: question key -> score, and an optional comment."""

    step: str
    answers: dict[str, Any]
    comment: str | None = None


class MySelfRating(Struct):
    """One of the caller's own ratings."""

    round_id: int = field(name="round")
    round_name: str
    round_open: bool
    step: str
    step_name: str
    answers: dict[str, int]
    comment: str | None
    updated_at: datetime


class MyClosedRound(Struct):
    """A closed round of the caller's department: anonymised, so counts only.

    When a round closes, the link between each rating and its author is severed, so the caller's
    answers in it can no longer be shown, changed or erased: that keeps published figures fixed.
    """

    round_id: int = field(name="round")
    round_name: str
    ends_at: datetime
    anonymised: bool
    department: str
    invited: int
    answered: int


class MyRatings(Struct):
    """The caller's own ratings in rounds not yet closed, and their department's closed rounds."""

    ratings: list[MySelfRating]
    closed_rounds: list[MyClosedRound]


class RatingQuestionOut(Struct):
    """A rating question with the customer's and the employee's wording, on one scale."""

    key: str
    kind: str
    customer: str
    employee: str
    low: int
    high: int
    low_label: str
    high_label: str
    required: bool


class StepToRateOut(Struct):
    """A step the caller's department owns."""

    key: str
    name: str
    journey: str
    moment_of_truth: bool
    questions: list[RatingQuestionOut]


class RatingOverview(Struct):
    """What the caller may rate now: the open round (if any), the next one, their steps."""

    open_round: RatingRound | None
    next_round: RatingRound | None
    steps: list[StepToRateOut]


class Erased(Struct):
    """How many of the caller's ratings were erased."""

    erased: int


class UserCreate(Struct, forbid_unknown_fields=True):
    """A new account; it gets an email with a link to set its password."""

    email: str
    name: str
    roles: list[str]
    department: str | None = None


class UserOut(Struct):
    """An account as the admin API shows it (never a password or a rating)."""

    id: int
    email: str
    name: str
    roles: list[str]
    department: str | None
    password_set: bool
