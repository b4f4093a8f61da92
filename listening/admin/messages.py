"""Messages: the organisation's name, logo and accent colour on the pages and emails, and the
invitation email's subject, opening and link line per language, for every survey or for one,
with a preview of the email exactly as the worker sends it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from listening.admin.console import NO_STORE, Section, actor, errors_of, page, text
from listening.delivery.email import FirstQuestion, InvitationMail, invitation_message
from listening.delivery.invitation_mail import invitation_mail
from surveys import catalog, schemas
from surveys.clock import Clock
from surveys.colours import colour_problem
from surveys.errors import DomainError, Invalid, NotFound
from surveys.invitation_text import SENTENCES, check_sentence, survey_sentences
from surveys.languages import Wording
from surveys.organisation import stored_organisation

SECTION = Section(
    "/admin/messages",
    "Messages",
    78,
    "The organisation's name, logo and accent colour on every customer page and email, and "
    "the invitation email's subject and text per language, for every survey or one, with a "
    "preview.",
)
# The made-up customer of the preview.
EXAMPLE = {
    "uid": "00000000-0000-0000-0000-000000000000",
    "to": "customer@example.com",
    "name": "Alex Example",
    "survey_url": "https://listening.example.com/s/…",
}


async def _mail(locale: str, step_key: str) -> InvitationMail:
    """The email a made-up customer gets: the chosen step's survey's, else a sample one's."""
    if step_key:
        step = await catalog.get_step(step_key)
        return await invitation_mail(
            survey_id=await catalog.survey_id(step_key),
            locale=locale,
            step_key=step.key,
            step_name=step.name,
            **EXAMPLE,
        )
    return InvitationMail(
        step_name="Your request is resolved",
        unsubscribe_url=EXAMPLE["survey_url"] + "/unsubscribe",
        question=FirstQuestion(kind="csat", text="How satisfied are you?"),
        wording=Wording.of(locale, await stored_organisation()),
        **EXAMPLE,
    )


async def _preview(locale: str, step_key: str) -> dict[str, str]:
    mail = await _mail(locale, step_key)
    message = invitation_message(mail, sender="surveys@example.com", now=datetime.now(UTC))
    return {
        "subject": str(message["Subject"]),
        "text": message.get_body(("plain",)).get_content(),
        "lang": mail.wording.lang,
    }


async def _page(
    request: Request,
    locale: str,
    step_key: str = "",
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    organisation = await catalog.get_organisation(fresh=True)
    own = organisation.wording.get(locale, {})
    surveys = {s.step: s for s in await catalog.list_surveys()}
    survey = surveys.get(step_key)
    if step_key and survey is None:
        errors = {**(errors or {}), "survey": "That step has no survey: choose another."}
        status_code, step_key = 404, ""
    mine = survey_sentences(survey.email, locale) if survey else {}
    locales = sorted(
        {organisation.default_locale, *organisation.wording, locale}
        | {tag for s in surveys.values() for tag in s.email}
    )
    return page(
        request,
        "admin/messages.html",
        SECTION,
        status_code=status_code,
        organisation=organisation,
        locale=locale,
        locales=locales,
        step_key=step_key,
        surveys=surveys,
        steps=[s for s in await catalog.list_steps() if s.key in surveys],
        sentences=SENTENCES,
        values=values
        or {
            "name": organisation.name,
            "logo": organisation.logo or "",
            "accent_colour": organisation.accent_colour or "",
            **{k: own.get(s.source, "") for k, s in SENTENCES.items()},
            **{f"survey_{k}": mine.get(k, "") for k in SENTENCES},
        },
        errors=errors or {},
        preview=await _preview(locale, step_key),
        notice=notice,
    )


def _chosen_locale(value: str) -> str | None:
    if len(value) > 35 or not value.replace("-", "").isalnum():
        return None
    return value.lower()


@get("/admin/messages", include_in_schema=False, cache_control=NO_STORE)
async def messages_page(
    request: Request,
    locale: FromQuery[str] = "",
    survey: FromQuery[str] = "",
    saved: FromQuery[str] = "",
) -> Template:
    """The organisation, the email's sentences in one language (of one survey), the preview."""
    chosen = _chosen_locale(locale or (await catalog.get_organisation()).default_locale)
    if chosen is None:
        return await _page(
            request,
            "en",
            errors={"locale": "Choose a language tag such as en or de-CH."},
            status_code=400,
        )
    notice = "Saved; the preview shows the email as it is now sent." if saved else None
    return await _page(request, chosen, survey, notice=notice)


def _sentence_errors(values: dict[str, str], prefix: str) -> dict[str, str]:
    errors = {}
    for key in SENTENCES:
        if values[prefix + key]:
            try:
                check_sentence(key, values[prefix + key], prefix + key)
            except Invalid as exc:
                errors[prefix + key] = exc.message
    return errors


@post("/admin/messages", include_in_schema=False, status_code=303)
async def save(request: Request, clock: NamedDependency[Clock]) -> Any:
    """Save the organisation's name, logo and colour and one language's email sentences."""
    form = await request.form()
    locale = _chosen_locale(text(form, "locale")) or "en"
    step_key = text(form, "survey")
    values = {k: text(form, k) for k in ("name", "logo", "accent_colour", *SENTENCES)}
    try:
        errors = _sentence_errors(values, "")
        if values["logo"] and not values["logo"].startswith(("https://", "/")):
            errors["logo"] = "The logo must be an https:// address or a path on this site."
        if not values["name"]:
            errors["name"] = "Give the organisation's name."
        if values["accent_colour"] and (problem := colour_problem(values["accent_colour"])):
            errors["accent_colour"] = problem
        if errors:
            raise Invalid("Please check the fields marked below.", errors=errors)
        before = await catalog.get_organisation(fresh=True)
        wording = {k: dict(v) for k, v in before.wording.items()}
        own = wording.setdefault(locale, {})
        for key, sentence in SENTENCES.items():
            if values[key]:
                own[sentence.source] = values[key]
            else:
                own.pop(sentence.source, None)
        if not own:
            wording.pop(locale)
        update = schemas.OrganisationUpdate(
            name=values["name"],
            logo=values["logo"] or None,
            accent_colour=values["accent_colour"].lower() or None,
            wording=wording,
        )
        # The service records the change in the audit log with its actor.
        await catalog.update_organisation(update, actor=actor(request), clock=clock)
    except DomainError as exc:
        return await _page(
            request,
            locale,
            step_key,
            values=values,
            errors=errors_of(exc),
            status_code=exc.status_code,
        )
    return _back(locale, step_key)


@post("/admin/messages/survey", include_in_schema=False, status_code=303)
async def save_survey(request: Request, clock: NamedDependency[Clock]) -> Any:
    """Save one survey's email sentences in one language (empty: the organisation's apply)."""
    form = await request.form()
    locale = _chosen_locale(text(form, "locale")) or "en"
    step_key = text(form, "survey")
    values = {f"survey_{k}": text(form, f"survey_{k}") for k in SENTENCES}
    try:
        errors = _sentence_errors(values, "survey_")
        if errors:
            raise Invalid("Please check the fields marked below.", errors=errors)
        survey = await catalog.get_survey(step_key)
        if not survey.active:  # saving would bring it back as a new version
            raise NotFound(f"step {step_key!r} has no active survey", field="survey")
        email = {tag: dict(texts) for tag, texts in survey.email.items()}
        mine = {k: values[f"survey_{k}"] for k in SENTENCES if values[f"survey_{k}"]}
        email[locale] = mine
        update = schemas.SurveyUpdate(
            email={tag: schemas.EmailSentences(**texts) for tag, texts in email.items() if texts}
        )
        await catalog.update_survey(step_key, update, clock=clock, actor=actor(request))
    except NotFound:
        return await _page(request, locale, step_key, status_code=404)
    except DomainError as exc:
        shown = {**await _current_values(locale), **values}
        return await _page(
            request,
            locale,
            step_key,
            values=shown,
            errors=errors_of(exc),
            status_code=exc.status_code,
        )
    return _back(locale, step_key)


def _back(locale: str, step_key: str) -> Redirect:
    query = urlencode({"locale": locale, **({"survey": step_key} if step_key else {}), "saved": 1})
    return Redirect(path=f"/admin/messages?{query}", status_code=303)


async def _current_values(locale: str) -> dict[str, str]:
    """The organisation's fields as stored, for a page that shows a survey form's refusal."""
    organisation = await catalog.get_organisation(fresh=True)
    own = organisation.wording.get(locale, {})
    return {
        "name": organisation.name,
        "logo": organisation.logo or "",
        "accent_colour": organisation.accent_colour or "",
        **{k: own.get(s.source, "") for k, s in SENTENCES.items()},
    }


CONTROLLERS = [messages_page, save, save_survey]
