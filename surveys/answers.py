"""A survey's questions as a person sees them, and the validation of a set of answers to them.

Forms send strings, the JSON API sends numbers and strings; both go through `validate_answers`,
which returns every problem at once, keyed by question, so a page can show each error next to
its question. The employee rating page reuses it with the employee wording.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from surveys.languages import N_
from surveys.scales import alert_threshold, end_labels, is_rating, scale_of
from surveys.tables import Question

TEXT_MAX = 2000
CHOICE_MAX = 200


class AnswerProblem(str):
    """What is wrong with an answer: reads as the English sentence, and keeps its message and
    parameters so a page can show it in the customer's language."""

    message: str
    params: dict[str, Any]

    def __new__(cls, message: str, **params: Any) -> AnswerProblem:
        """The problem `message` with `%(name)s` placeholders filled from `params`."""
        problem = super().__new__(cls, message % params if params else message)
        problem.message = message
        problem.params = params
        return problem


NOT_A_LEVEL = N_("Please choose one of the numbers on the scale.")
OUT_OF_RANGE = N_("Please choose a number from %(low)s to %(high)s.")
NOT_ASKED = N_("This survey has no such question.")
ONE_ANSWER = N_("Please give one answer only.")
UNANSWERED = N_("Please answer this question.")
NOT_AN_OPTION = N_("Please choose one of the answers offered.")
NOT_TEXT = N_("The answer must be text.")
UNSTORABLE = N_("The text contains a character that cannot be stored. Please remove it.")
TOO_LONG = N_("Please shorten this to %(limit)s characters (it has %(length)s).")


@dataclass(frozen=True)
class AskedQuestion:
    """One question in the words and the language it is shown in."""

    id: int
    key: str
    kind: str
    text: str
    locale: str | None  # the language `text` is in
    required: bool
    low: int | None
    high: int | None
    low_label: str | None
    high_label: str | None
    options: tuple[str, ...]
    higher_is_better: bool
    alert_threshold: int | None  # the effective one: the question's own, else the kind's

    @property
    def levels(self) -> range:
        """The scale's levels (empty for choice and text)."""
        return range(self.low, self.high + 1) if self.low is not None else range(0)


@dataclass(frozen=True)
class GivenAnswer:
    """A checked answer, ready to store: exactly one of score, choice, text is set."""

    question: AskedQuestion
    score: int | None = None
    choice: str | None = None
    text: str | None = None


def pick_wording(wording: Any, locales: Iterable[str | None]) -> tuple[str, str | None]:
    """The text for the first wanted locale that has one, else the default (the first key).

    Returns the text and the locale it is in. `de-CH` falls back to `de`. A plain string is
    a wording in one language.
    """
    if isinstance(wording, str):
        try:
            wording = json.loads(wording)
        except ValueError:
            return wording, None
    if isinstance(wording, str):
        return wording, None
    if not isinstance(wording, dict) or not wording:
        return "", None
    lowered = {str(k).lower(): k for k in wording}
    for wanted in locales:
        if not wanted:
            continue
        wanted = wanted.lower().replace("_", "-")
        for candidate in (wanted, wanted.split("-")[0]):
            if candidate in lowered:
                key = lowered[candidate]
                return wording[key], key
    first_locale = next(iter(wording))
    return wording[first_locale], first_locale


def default_wording(wording: Any) -> str:
    """The wording in the default language (the first locale of the table)."""
    return str(pick_wording(wording, ())[0])


def accepted_locales(header: str | None, limit: int = 6) -> list[str]:
    """The languages of an Accept-Language header, most wanted first."""
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, n, tag))
    return [tag for _, _, tag in sorted(ranked)[:limit]]


def asked_question(row: Mapping[str, Any], locales: Iterable[str | None]) -> AskedQuestion:
    """A question row (as Piccolo selects it) in the customer's words and language."""
    kind = row["kind"]
    text, locale = pick_wording(row["customer"], locales)
    options = row.get("options") or []
    if isinstance(options, str):
        options = json.loads(options or "[]")
    low = high = None
    low_label = high_label = None
    if is_rating(kind):
        low, high = scale_of(kind)
        low_label, high_label = end_labels(kind, row.get("low_label"), row.get("high_label"))
    higher_is_better = bool(row.get("higher_is_better", True))
    return AskedQuestion(
        id=row["id"],
        key=row["key"],
        kind=kind,
        text=text,
        locale=locale,
        required=bool(row.get("required", True)),
        low=low,
        high=high,
        low_label=low_label,
        high_label=high_label,
        options=tuple(options),
        higher_is_better=higher_is_better,
        alert_threshold=alert_threshold(kind, row.get("alert_threshold"), higher_is_better),
    )


async def questions_of(survey_id: int, locales: Iterable[str | None] = ()) -> list[AskedQuestion]:
    """A survey's questions in order, worded for the first of `locales` that has a translation."""
    rows = (
        await Question.select()
        .where(Question.survey == survey_id)
        .order_by(Question.position)
        .order_by(Question.id)
    )
    wanted = tuple(locales)
    return [asked_question(row, wanted) for row in rows]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _score(question: AskedQuestion, value: Any) -> tuple[int | None, AnswerProblem | None]:
    if isinstance(value, bool):
        return None, AnswerProblem(NOT_A_LEVEL)
    if isinstance(value, str):
        value = value.strip()
        if not value.lstrip("-").isdigit() or len(value) > 4:
            return None, AnswerProblem(NOT_A_LEVEL)
        value = int(value)
    if not isinstance(value, int):
        return None, AnswerProblem(NOT_A_LEVEL)
    assert question.low is not None and question.high is not None
    if not question.low <= value <= question.high:
        return None, AnswerProblem(OUT_OF_RANGE, low=question.low, high=question.high)
    return value, None


def validate_answers(
    questions: list[AskedQuestion], raw: Mapping[str, Any], *, ignore_unknown: bool = False
) -> tuple[list[GivenAnswer], dict[str, str]]:
    """Check answers against the questions; return the answers given and errors by question key.

    A blank answer to an optional question is no answer. Text is stored verbatim (only NUL
    bytes, which databases refuse, are rejected), at most 2,000 characters.
    """
    errors: dict[str, str] = {}
    given: list[GivenAnswer] = []
    asked = {q.key for q in questions}
    if not ignore_unknown:
        for key in raw:
            if key not in asked:
                errors[str(key)[:100]] = AnswerProblem(NOT_ASKED)
    for question in questions:
        value = raw.get(question.key)
        if isinstance(value, list | tuple):
            # A form may repeat a field; a question takes one answer.
            value = value[-1] if len(value) == 1 else value
            if isinstance(value, list | tuple):
                errors[question.key] = AnswerProblem(ONE_ANSWER)
                continue
        if _blank(value):
            if question.required:
                errors[question.key] = AnswerProblem(UNANSWERED)
            continue
        if is_rating(question.kind):
            score, problem = _score(question, value)
            if problem:
                errors[question.key] = problem
            else:
                given.append(GivenAnswer(question, score=score))
        elif question.kind == "choice":
            if not isinstance(value, str) or value not in question.options:
                errors[question.key] = AnswerProblem(NOT_AN_OPTION)
            else:
                given.append(GivenAnswer(question, choice=value))
        else:
            if not isinstance(value, str):
                errors[question.key] = AnswerProblem(NOT_TEXT)
            elif "\x00" in value:
                errors[question.key] = AnswerProblem(UNSTORABLE)
            elif len(value) > TEXT_MAX:
                errors[question.key] = AnswerProblem(TOO_LONG, limit=TEXT_MAX, length=len(value))
            else:
                given.append(GivenAnswer(question, text=value))
    return given, errors
