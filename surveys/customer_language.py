"""Which language a customer page or email speaks, for pages that show no questions.

The survey and feedback pages speak the language their questions are shown in. The pages
around them (thank-you, opt-out, "already answered", "expired") and the invitation emails
speak the language the survey would be shown in to the same invitation: its locale, its
language, else the survey's first language. A page that knows no invitation (an unknown link)
follows the browser among the languages there are words for, else the organisation's default.
A message about no invitation (the link to opt back in, `surveys.opt_in`) speaks the customer's
own locale, else their last invitation's, else the organisation's default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from surveys.answers import pick_wording
from surveys.languages import SOURCE_LANGUAGE, Wording, shipped_languages
from surveys.organisation import Organisation, current_organisation
from surveys.tables import Customer, FollowUp, Invitation, Question
from surveys.tokens import token_hash

TOKEN_MAX = 100


@dataclass(frozen=True)
class InvitationPage:
    """What a page around an invitation says: its wording, the step, a follow-up opened."""

    wording: Wording
    step_key: str
    step_name: str
    follow_up_opened: bool


def interface_languages(organisation: Organisation) -> list[str]:
    """The languages with interface words: the shipped catalogues and the organisation's own."""
    shipped = sorted(shipped_languages() - {SOURCE_LANGUAGE})
    return [SOURCE_LANGUAGE, *shipped, *organisation.wording]


def browser_wording(locales: Iterable[str | None], organisation: Organisation) -> Wording:
    """The wording for a visitor with no invitation: the browser's languages, else the default."""
    offered = {tag: tag for tag in interface_languages(organisation)}
    _, chosen = pick_wording({organisation.default_locale: "", **offered}, locales)
    return Wording.of(chosen, organisation)


async def survey_wording(
    survey_id: int, locales: Iterable[str | None], organisation: Organisation | None = None
) -> Wording:
    """The wording a survey is shown in to `locales`: the language of its first question."""
    organisation = organisation or await current_organisation()
    first_question = (
        await Question.select(Question.customer)
        .where(Question.survey == survey_id)
        .order_by(Question.position)
        .order_by(Question.id)
        .first()
    )
    wanted = tuple(locales)
    if first_question is None:
        return browser_wording(wanted, organisation)
    _, lang = pick_wording(first_question["customer"], wanted)
    return Wording.of(lang or organisation.default_locale, organisation)


async def invitation_page(token: str) -> InvitationPage | None:
    """The wording and state of an invitation's pages; None for an unknown token."""
    if not token or len(token) > TOKEN_MAX:
        return None
    row = (
        await Invitation.select(
            Invitation.id,
            Invitation.survey,
            Invitation.locale,
            Invitation.customer.locale.as_alias("customer_locale"),
            Invitation.step.key.as_alias("step_key"),
            Invitation.step.name.as_alias("step_name"),
        )
        .where(Invitation.token_hash == token_hash(token))
        .first()
    )
    if row is None:
        return None
    organisation = await current_organisation()
    wording = await survey_wording(
        row["survey"], (row["locale"], row["customer_locale"]), organisation
    )
    opened = await FollowUp.exists().where(FollowUp.response.invitation == row["id"])
    return InvitationPage(
        wording=wording,
        step_key=row["step_key"],
        step_name=wording.step_name(row["step_key"], row["step_name"]),
        follow_up_opened=opened,
    )


async def customer_wording(customer_id: int, organisation: Organisation | None = None) -> Wording:
    """The wording of a message to a customer outside any invitation (their opt-in link): their
    own locale, else their last invitation's, else the organisation's default."""
    organisation = organisation or await current_organisation()
    own = await Customer.select(Customer.locale).where(Customer.id == customer_id).first()
    last = (
        await Invitation.select(Invitation.locale)
        .where((Invitation.customer == customer_id) & Invitation.locale.is_not_null())
        .order_by(Invitation.id, ascending=False)
        .first()
    )
    locales = (own and own["locale"], last and last["locale"])
    return browser_wording(locales, organisation)


async def page_wording(token: str | None, browser_locales: Iterable[str | None]) -> Wording:
    """The wording of a page about `token` (its invitation's), else the browser's."""
    page = await invitation_page(token) if token else None
    if page is not None:
        return page.wording
    return browser_wording(browser_locales, await current_organisation())
