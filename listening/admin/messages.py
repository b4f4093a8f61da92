"""Messages: the organisation's name and logo on the pages and emails, and the invitation email's
subject and opening line per language, with a preview of the email as it is sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from listening.admin.console import NO_STORE, Section, actor, page, text
from listening.delivery.email import FirstQuestion, InvitationMail, invitation_message
from surveys import catalog, schemas
from surveys.clock import Clock
from surveys.errors import DomainError, Invalid
from surveys.languages import Wording
from surveys.organisation import stored_organisation

SECTION = Section("/admin/messages", "Messages", 78)
# The invitation email's sentences an organisation rewrites, with their placeholders.
SENTENCES = {
    "subject": ("How was it: %(step)s?", "Subject", ("step",)),
    "opening": ("How was it: %(step)s? It takes less than a minute.", "Opening line", ("step",)),
    "answer": ("Answer the survey: %(url)s", "Link line", ("url",)),
}


def _check(value: str, placeholders: tuple[str, ...], field: str) -> str:
    """A sentence whose placeholders fill in; a stray % would break every email at send time."""
    try:
        value % dict.fromkeys(placeholders, "x")
    except (KeyError, ValueError, TypeError):
        names = ", ".join(f"%({p})s" for p in placeholders)
        raise Invalid(
            f"Write % as %%; the placeholders allowed here are {names}.", field=field
        ) from None
    return value


async def _preview(locale: str) -> dict[str, str]:
    organisation = await stored_organisation()
    mail = InvitationMail(
        uid="00000000-0000-0000-0000-000000000000",
        to="customer@example.com",
        name="Alex Example",
        step_name="Your request is resolved",
        survey_url="https://listening.example.com/s/…",
        unsubscribe_url="https://listening.example.com/s/…/opt-out",
        question=FirstQuestion(kind="csat", text="How satisfied are you?"),
        wording=Wording.of(locale, organisation),
    )
    message = invitation_message(mail, sender="surveys@example.com", now=datetime.now(UTC))
    return {"subject": str(message["Subject"]), "text": message.get_body(("plain",)).get_content()}


async def _page(
    request: Request,
    locale: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    organisation = await catalog.get_organisation(fresh=True)
    own = organisation.wording.get(locale, {})
    locales = sorted({organisation.default_locale, *organisation.wording, locale})
    return page(
        request,
        "admin/messages.html",
        SECTION,
        status_code=status_code,
        organisation=organisation,
        locale=locale,
        locales=locales,
        sentences=SENTENCES,
        values=values
        or {
            "name": organisation.name,
            "logo": organisation.logo or "",
            **{k: own.get(source, "") for k, (source, _, _) in SENTENCES.items()},
        },
        errors=errors or {},
        preview=await _preview(locale),
        notice=notice,
    )


@get("/admin/messages", include_in_schema=False, cache_control=NO_STORE)
async def messages_page(
    request: Request, locale: FromQuery[str] = "", saved: FromQuery[str] = ""
) -> Template:
    """The organisation's name and logo, the email's sentences in one language, the preview."""
    chosen = locale or (await catalog.get_organisation()).default_locale
    if len(chosen) > 35 or not chosen.replace("-", "").isalnum():
        return await _page(
            request,
            "en",
            errors={"locale": "Choose a language tag such as en or de-CH."},
            status_code=400,
        )
    notice = "Saved; the preview shows the email as it is now sent." if saved else None
    return await _page(request, chosen.lower(), notice=notice)


@post("/admin/messages", include_in_schema=False, status_code=303)
async def save(request: Request, clock: NamedDependency[Clock]) -> Any:
    """Save the organisation's name and logo and one language's email sentences."""
    form = await request.form()
    locale = text(form, "locale").lower() or "en"
    values = {k: text(form, k) for k in ("name", "logo", *SENTENCES)}
    try:
        errors: dict[str, str] = {}
        for key, (_, _, placeholders) in SENTENCES.items():
            if values[key]:
                try:
                    _check(values[key], placeholders, key)
                except Invalid as exc:
                    errors[key] = exc.message
        if values["logo"] and not values["logo"].startswith(("https://", "/")):
            errors["logo"] = "The logo must be an https:// address or a path on this site."
        if not values["name"]:
            errors["name"] = "Give the organisation's name."
        if errors:
            raise Invalid("Please check the fields marked below.", errors=errors)
        before = await catalog.get_organisation(fresh=True)
        wording = {k: dict(v) for k, v in before.wording.items()}
        own = wording.setdefault(locale, {})
        for key, (source, _, _) in SENTENCES.items():
            if values[key]:
                own[source] = values[key]
            else:
                own.pop(source, None)
        if not own:
            wording.pop(locale)
        update = schemas.OrganisationUpdate(
            name=values["name"], logo=values["logo"] or None, wording=wording
        )
        # The service records the change in the audit log with its actor.
        await catalog.update_organisation(update, actor=actor(request), clock=clock)
    except DomainError as exc:
        return await _page(
            request,
            locale,
            values=values,
            errors=dict(exc.errors) if exc.errors else {"": exc.message},
            status_code=exc.status_code,
        )
    return Redirect(path=f"/admin/messages?locale={locale}&saved=1", status_code=303)


CONTROLLERS = [messages_page, save]
