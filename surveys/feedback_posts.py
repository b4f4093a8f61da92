"""Always-on feedback posts: anyone may rate a step and comment, without an invitation.

Feedback "when you're not in the room". Posts are stored with source `unsolicited` and count
apart from invited responses in the tallies. Abuse is held off by the per-address rate limit
(applied by the shell before the request gets here) and a honeypot field that people never see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from surveys.answers import AskedQuestion, questions_of, validate_answers
from surveys.clock import Clock, system_clock
from surveys.errors import Invalid, NotFound
from surveys.languages import Wording
from surveys.organisation import current_organisation
from surveys.responses import Notify, store_response
from surveys.tables import Step, Survey
from surveys.transactions import write_transaction

HONEYPOT_FIELD = "website"
KEY_MAX = 100


@dataclass(frozen=True)
class FeedbackForm:
    """A step's public feedback form: its current survey's questions."""

    step_id: int
    step_key: str
    step_name: str
    survey_id: int
    questions: list[AskedQuestion]

    @property
    def locale(self) -> str | None:
        """The language the questions are shown in."""
        return next((q.locale for q in self.questions if q.locale), None)


@dataclass(frozen=True)
class FeedbackPosted:
    """A feedback post taken: the language it was written in and the follow-ups it opened."""

    wording: Wording
    follow_up_ids: list[int]


async def feedback_form(step_key: str, locales: Iterable[str | None] = ()) -> FeedbackForm:
    """The feedback form of an active step with an active survey; 404 otherwise."""
    if not step_key or len(step_key) > KEY_MAX:
        raise NotFound("This page does not exist.")
    step = (
        await Step.select(Step.id, Step.key, Step.name)
        .where((Step.key == step_key) & Step.active.eq(True))
        .first()
    )
    if step is None:
        raise NotFound("This page does not exist.")
    survey = (
        await Survey.select(Survey.id)
        .where((Survey.step == step["id"]) & Survey.active.eq(True))
        .order_by(Survey.version, ascending=False)
        .first()
    )
    if survey is None:
        raise NotFound("This page does not exist.")
    return FeedbackForm(
        step_id=step["id"],
        step_key=step["key"],
        step_name=step["name"],
        survey_id=survey["id"],
        questions=await questions_of(survey["id"], locales),
    )


async def post_feedback(
    step_key: str,
    raw_answers: Mapping[str, Any],
    *,
    honeypot: str | None = None,
    locales: Iterable[str | None] = (),
    clock: Clock = system_clock,
    notify: Notify | None = None,
) -> FeedbackPosted:
    """Store an unsolicited response to the step's survey (nothing when the honeypot was filled).

    A filled honeypot gets the same thank-you as a person, so a bot learns nothing.
    """
    form = await feedback_form(step_key, tuple(locales))
    wording = Wording.of(form.locale, await current_organisation())
    if honeypot:
        return FeedbackPosted(wording=wording, follow_up_ids=[])
    given, errors = validate_answers(form.questions, raw_answers)
    if errors:
        first_field = next(iter(errors))
        raise Invalid(f"{first_field}: {errors[first_field]}", field=first_field, errors=errors)
    async with write_transaction():
        submitted = await store_response(
            survey_id=form.survey_id,
            step_id=form.step_id,
            given=given,
            source="unsolicited",
            now=clock(),
            notify=notify or Notify(),
            locale=form.locale,
        )
    return FeedbackPosted(wording=wording, follow_up_ids=submitted.follow_up_ids)
