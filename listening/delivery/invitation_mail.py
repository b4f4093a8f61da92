"""An invitation email as it is sent: the survey's first rating question, in the language the
survey is shown in, with the survey's own sentences over the organisation's and the catalogue's.

The worker sends what this builds; the console's Messages section previews it, so the preview
is the email, not a likeness of it.
"""

from __future__ import annotations

from listening.delivery.email import FirstQuestion, InvitationMail, pick_wording
from listening.outbox import first_rating_question
from surveys.customer_language import survey_wording
from surveys.invitation_text import survey_email, with_survey_email


async def invitation_mail(
    *,
    survey_id: int,
    locale: str | None,
    uid: str,
    to: str,
    name: str | None,
    step_key: str,
    step_name: str,
    survey_url: str,
    reminder: bool = False,
) -> InvitationMail:
    """What the invitation (or its reminder) for one survey version says to one customer."""
    question = await first_rating_question(survey_id)
    wording = await survey_wording(survey_id, (locale,))
    wording = with_survey_email(wording, await survey_email(survey_id))
    first_question = (
        FirstQuestion(
            kind=question["kind"],
            text=pick_wording(question["customer"], wording.lang),
            low_label=question["low_label"],
            high_label=question["high_label"],
        )
        if question
        else None
    )
    return InvitationMail(
        uid=uid,
        to=to,
        name=name,
        step_name=wording.step_name(step_key, step_name),
        survey_url=survey_url,
        unsubscribe_url=f"{survey_url}/unsubscribe",
        question=first_question,
        reminder=reminder,
        wording=wording,
    )
