"""msgspec Structs at the HTTP edge: what the admin API reads and answers (and the OpenAPI schema).

`*Create` bodies name every field a new object needs; `*Update` bodies are partial (a field left
out stays as it is). Unknown fields are refused, so a typo is a 400 naming it, not a silent no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Key = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="A stable slug: letters, digits, '-', '_' and '.'.",
        examples=["ticket-resolved"],
    ),
]
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"\S")]
Email = Annotated[str, Meta(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Position = Annotated[int, Meta(ge=0, le=100_000, description="Order in the list, lowest first.")]
Wording = Annotated[str, Meta(min_length=1, max_length=2000, pattern=r"\S")]
Locale = Annotated[
    str, Meta(min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$")
]
Wordings = Annotated[dict[Locale, Wording], Meta(min_length=1, max_length=20)]
Label = Annotated[str, Meta(min_length=1, max_length=200)]
QuestionKind = Literal["csat", "ces", "nps", "likert5", "likert7", "choice", "text"]

_INPUT = {"forbid_unknown_fields": True, "kw_only": True}


# --- departments -----------------------------------------------------------------------------


class Department(Struct, kw_only=True):
    """A part of the company that owns steps."""

    key: str
    name: str
    active: bool
    follow_up_email: str | None = None


class DepartmentCreate(Struct, **_INPUT):
    """A new department."""

    key: Key
    name: Name
    follow_up_email: Email | None = None


class DepartmentUpdate(Struct, **_INPUT):
    """Changes to a department; `active: true` brings a deactivated one back."""

    name: Name | UnsetType = UNSET
    follow_up_email: Email | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


# --- journeys --------------------------------------------------------------------------------


class Journey(Struct, kw_only=True):
    """A path a customer takes through the company."""

    key: str
    name: str
    position: int
    active: bool


class JourneyCreate(Struct, **_INPUT):
    """A new journey; without a position it goes last."""

    key: Key
    name: Name
    position: Position | None = None


class JourneyUpdate(Struct, **_INPUT):
    """Changes to a journey."""

    name: Name | UnsetType = UNSET
    position: Position | UnsetType = UNSET
    active: bool | UnsetType = UNSET


# --- steps -----------------------------------------------------------------------------------


class Step(Struct, kw_only=True):
    """One step of a journey, owned by a department (both named by key)."""

    key: str
    name: str
    journey: str
    position: int
    department: str
    moment_of_truth: bool
    active: bool


class StepCreate(Struct, **_INPUT):
    """A new step; without a position it goes last in its journey."""

    key: Key
    name: Name
    journey: Key
    department: Key
    position: Position | None = None
    moment_of_truth: bool = False


class StepUpdate(Struct, **_INPUT):
    """Changes to a step; moved to another journey without a position, it goes last there."""

    name: Name | UnsetType = UNSET
    journey: Key | UnsetType = UNSET
    position: Position | UnsetType = UNSET
    department: Key | UnsetType = UNSET
    moment_of_truth: bool | UnsetType = UNSET
    active: bool | UnsetType = UNSET


# --- surveys and questions -------------------------------------------------------------------


class Question(Struct, kw_only=True):
    """A question as asked: customer wording per locale, the mirrored employee wording."""

    key: str
    kind: str
    customer: dict[str, str]
    employee: str | None
    low_label: str | None
    high_label: str | None
    options: list[str]
    required: bool
    position: int
    higher_is_better: bool
    alert_threshold: int | None


class QuestionCreate(Struct, **_INPUT):
    """A question of a survey body; rating kinds need `employee`, choice needs `options`."""

    key: Key
    kind: QuestionKind
    # A plain string is English; or a table of locale -> text, the default locale first.
    customer: Wording | Wordings
    employee: Wording | None = None
    low_label: Label | None = None
    high_label: Label | None = None
    options: Annotated[list[Label], Meta(max_length=50)] = msgspec.field(default_factory=list)
    required: bool = True
    higher_is_better: bool = True
    alert_threshold: int | None = None


Questions = Annotated[list[QuestionCreate], Meta(min_length=1, max_length=50)]
EmailSentence = Annotated[str, Meta(min_length=1, max_length=300, pattern=r"\S")]


class EmailSentences(Struct, **_INPUT):
    """A survey's invitation email in one locale; a sentence left out keeps the organisation's."""

    subject: EmailSentence | None = None
    opening: EmailSentence | None = None
    answer: EmailSentence | None = None


SurveyEmail = Annotated[dict[Locale, EmailSentences], Meta(max_length=50)]


class Survey(Struct, kw_only=True):
    """One version of a step's survey with its questions in order."""

    step: str
    name: str
    version: int
    active: bool
    created_at: datetime
    questions: list[Question]
    # The invitation email's own sentences per locale: subject, opening, answer (the link line).
    email: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)


class SurveyCreate(Struct, **_INPUT):
    """A survey for a step that has none active; the name defaults to the step's name."""

    step: Key
    questions: Questions
    name: Name | None = None
    email: SurveyEmail | None = None


class SurveyUpdate(Struct, **_INPUT):
    """New name or questions; changed questions on an answered survey make a new version."""

    name: Name | UnsetType = UNSET
    questions: Questions | UnsetType = UNSET
    email: SurveyEmail | UnsetType = UNSET


# --- the organisation ------------------------------------------------------------------------


class Organisation(Struct, kw_only=True):
    """The organisation customers see: the journey file's `[organisation]` table, versioned."""

    name: str
    logo: str | None
    accent_colour: str | None = None
    time_zone: str
    default_locale: str
    wording: dict[str, dict[str, str]]
    step_names: dict[str, dict[str, str]]
    version: int


class OrganisationUpdate(Struct, **_INPUT):
    """Changes to the organisation; `wording` replaces all of it, `step_names` the steps named."""

    name: Name | UnsetType = UNSET
    logo: Annotated[str, Meta(max_length=2000)] | UnsetType | None = UNSET
    accent_colour: Annotated[str, Meta(max_length=7)] | UnsetType | None = UNSET
    time_zone: Annotated[str, Meta(max_length=64)] | UnsetType = UNSET
    default_locale: Locale | UnsetType = UNSET
    wording: dict[Locale, dict[str, Wording]] | UnsetType = UNSET
    step_names: dict[Key, dict[Locale, Name]] | UnsetType = UNSET
