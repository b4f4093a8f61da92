"""The privacy desk: suppressed addresses, opt-outs, a customer's data found and erased, and the
retention and anonymity settings in force. Every change is audited, customers only as a keyed
hash (erasing a customer also blanks the entries about them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from listening import outbox, privacy_admin
from listening.admin.console import NO_STORE, Section, actor, errors_of, page, text
from listening.event_privacy import STORED_EVENTS
from listening.settings import Settings
from surveys import audit
from surveys.clock import Clock
from surveys.errors import DomainError
from surveys.opt_in import LINK_DAYS, SentRecently, send_opt_in_link
from surveys.privacy import erase_customer

SECTION = Section(
    "/admin/privacy",
    "Privacy",
    50,
    "Suppressed addresses, opt-outs, a customer's data found and erased, and the retention "
    "and anonymity settings in force.",
)
NOTICES = {
    "suppressed": "The address is suppressed: it is never emailed again.",
    "unsuppressed": "The address may be emailed again.",
    "opted_out": "The customer is opted out of every survey.",
    "link_sent": (
        f"The customer will get an email with a link to opt back in (valid {LINK_DAYS} days); "
        "the opt-out stays until they confirm it there."
    ),
    "erased": "The customer's personal data is erased.",
}


async def _page(
    request: Request,
    settings: Settings,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    found: privacy_admin.Found | None = None,
    notice: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    answer = page(
        request,
        "admin/privacy.html",
        SECTION,
        status_code=status_code,
        suppressions=await privacy_admin.list_suppressions(),
        opt_outs=await privacy_admin.list_opt_outs(),
        settings=settings,
        values=values or {},
        errors=errors or {},
        found=found,
        notice=notice,
        link_days=LINK_DAYS,
        link_cooldown_minutes=settings.opt_in_link_cooldown_seconds // 60,
    )
    answer.headers.update(headers or {})
    return answer


@get("/admin/privacy", include_in_schema=False, cache_control=NO_STORE)
async def privacy_page(
    request: Request,
    settings: NamedDependency[Settings],
    q: FromQuery[str] = "",
    done: FromQuery[str] = "",
) -> Template:
    """Suppressions, opt-outs, the customer finder and the settings in force."""
    found = None
    errors: dict[str, str] = {}
    if q:
        try:
            found = await privacy_admin.find_customer(q)
        except DomainError as exc:
            errors = {"q": exc.message}
    return await _page(
        request,
        settings,
        values={"q": q},
        errors=errors,
        found=found,
        notice=NOTICES.get(done),
        status_code=404 if errors else 200,
    )


def _done(what: str, fragment: str = "") -> Redirect:
    return Redirect(path=f"/admin/privacy?done={what}{fragment}", status_code=303)


@post("/admin/privacy/suppressions", include_in_schema=False, status_code=303)
async def add_suppression(
    request: Request, settings: NamedDependency[Settings], clock: NamedDependency[Clock]
) -> Any:
    """Never email an address again."""
    form = await request.form()
    values = {"email": text(form, "email"), "reason": text(form, "reason") or "manual"}
    try:
        added = await outbox.add_suppression(values["email"], values["reason"][:50], clock=clock)
    except DomainError as exc:
        return await _page(
            request, settings, values=values, errors=errors_of(exc), status_code=exc.status_code
        )
    await audit.record_suppression(
        actor(request), added["email"], added["reason"], settings.secret_key
    )
    return _done("suppressed")


@post("/admin/privacy/suppressions/remove", include_in_schema=False, status_code=303)
async def remove_suppression(
    request: Request, settings: NamedDependency[Settings], clock: NamedDependency[Clock]
) -> Any:
    """Allow emailing an address again."""
    email = text(await request.form(), "email")
    try:
        removed = await privacy_admin.remove_suppression(email)
    except DomainError as exc:
        return await _page(request, settings, errors={"": exc.message}, status_code=exc.status_code)
    ref = audit.person_ref(removed["email"], settings.secret_key)
    await audit.record(
        actor(request),
        "suppression",
        "remove",
        ref,
        before={"reason": removed["reason"]},
        person=ref,
        clock=clock,
    )
    return _done("unsuppressed")


@post("/admin/privacy/opt-outs", include_in_schema=False, status_code=303)
async def add_opt_out(
    request: Request, settings: NamedDependency[Settings], clock: NamedDependency[Clock]
) -> Any:
    """Opt a customer out on their behalf."""
    customer = text(await request.form(), "customer")
    try:
        at = await privacy_admin.add_opt_out(customer, clock=clock)
    except DomainError as exc:
        return await _page(
            request,
            settings,
            values={"customer": customer},
            errors=errors_of(exc),
            status_code=exc.status_code,
        )
    ref = audit.person_ref(customer, settings.secret_key)
    await audit.record(
        actor(request),
        "opt_out",
        "add",
        ref,
        before={"opted_out_at": None},
        after={"opted_out_at": at},
        person=ref,
        clock=clock,
    )
    return _done("opted_out")


@post("/admin/privacy/opt-outs/link", include_in_schema=False, status_code=303)
async def send_opt_in(
    request: Request,
    settings: NamedDependency[Settings],
    clock: NamedDependency[Clock],
    base_url: NamedDependency[str],
) -> Any:
    """Email an opted-out customer a link where they alone may lift their opt-out."""
    customer = text(await request.form(), "customer")
    try:
        await send_opt_in_link(
            customer,
            actor=actor(request),
            secret_key=settings.secret_key,
            base_url=base_url,
            clock=clock,
            cooldown=timedelta(seconds=settings.opt_in_link_cooldown_seconds),
        )
    except DomainError as exc:
        # Refused as too soon: nothing was sent, and the page says from when a link can go.
        wait = {"Retry-After": str(exc.retry_after)} if isinstance(exc, SentRecently) else {}
        return await _page(
            request,
            settings,
            values={"opt_in": customer},
            errors={"opt-in": exc.message},
            status_code=exc.status_code,
            headers=wait,
        )
    # The button may sit far down the list: the answer opens where its notice is.
    return _done("link_sent", "#notice")


@post("/admin/privacy/erase", include_in_schema=False, status_code=303)
async def erase(
    request: Request,
    settings: NamedDependency[Settings],
    clock: NamedDependency[Clock],
) -> Any:
    """Erase a customer's personal data once the admin has typed their id again."""
    form = await request.form()
    customer, confirm = text(form, "customer"), text(form, "confirm")
    try:
        found = await privacy_admin.find_customer(customer)
    except DomainError as exc:
        return await _page(request, settings, errors={"": exc.message}, status_code=404)
    if confirm != found.external_id:
        return await _page(
            request,
            settings,
            values={"q": customer, "confirm": confirm},
            found=found,
            errors={"confirm": "Type the customer's id exactly as shown to confirm the erasure."},
            status_code=422,
        )
    counts = await erase_customer(
        found.external_id, secret_key=settings.secret_key, events=STORED_EVENTS, clock=clock
    )
    await audit.record_erasure(actor(request), found.external_id, counts, settings.secret_key)
    return _done("erased")


CONTROLLERS = [
    privacy_page,
    add_suppression,
    remove_suppression,
    add_opt_out,
    send_opt_in,
    erase,
]
