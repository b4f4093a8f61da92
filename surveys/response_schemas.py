"""Shapes of the customer-facing JSON API (survey questions, answers) and of follow-ups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct, field


class QuestionOut(Struct):
    """A question in the customer's language; `low`/`high` and labels for rating kinds."""

    key: str
    kind: str
    text: str
    required: bool
    low: int | None = None
    high: int | None = None
    low_label: str | None = None
    high_label: str | None = None
    options: list[str] = []


class SurveyForCustomer(Struct):
    """What an app needs to show an invitation's survey itself."""

    step: str
    step_name: str
    locale: str | None
    expires_at: datetime
    questions: list[QuestionOut]


class ResponseCreate(Struct):
    """Answers by question key: a score (integer), an option (string) or a text."""

    answers: dict[str, Any]


class ResponseCreated(Struct):
    """A stored response."""

    id: int
    status: str = "answered"
    follow_ups: int = 0


class FieldError(Struct):
    """One refused field (for invalid answers: the question key)."""

    field: str
    message: str


class Problem(Struct):
    """The error body of the JSON API."""

    status_code: int
    detail: str
    field: str | None = None
    errors: list[FieldError] = []


class FollowUpOut(Struct):
    """A follow-up as the staff see it."""

    id: int
    status: str
    step_key: str = field(name="step")
    step_name: str
    department_key: str = field(name="department")
    department_name: str
    question_key: str = field(name="question")
    question_kind: str = field(name="kind")
    score: int
    source: str
    customer_ref: str | None = field(name="customer")
    comments: list[str]
    note: str | None
    closed_by_name: str | None = field(name="closed_by")
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class FollowUpUpdate(Struct):
    """A move along open → in_progress → closed, and/or a note (closing needs one)."""

    status: str | None = None
    note: str | None = None
