"""The outbox: invitations filtered by status, step, channel and date; one invitation's story;
cancelling a scheduled invitation and retrying a failed one (both recorded in the audit log)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from listening import outbox_admin
from listening.admin.console import NO_STORE, Section, actor, page, parse_day
from listening.settings import Settings
from surveys import audit, catalog
from surveys.clock import Clock
from surveys.errors import DomainError

SECTION = Section(
    "/admin/outbox",
    "Outbox",
    40,
    "Invitations by status, step, channel and date, each one's story; cancel or retry.",
)


@get("/admin/outbox", include_in_schema=False, cache_control=NO_STORE)
async def outbox_page(
    request: Request,
    status: FromQuery[str] = "",
    step: FromQuery[str] = "",
    channel: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    cancel: FromQuery[str] = "",
    retry: FromQuery[str] = "",
) -> Template:
    """Invitations, newest first, filtered by status, step, channel and creation date."""
    errors: dict[str, str] = {}
    start, errors["since"] = parse_day(
        since, "since", "From (since) must lie between 1970 and 2100."
    )
    end, errors["until"] = parse_day(
        until, "until", "Before (until) must lie between 1970 and 2100."
    )
    if status and status not in outbox_admin.STATUSES:
        errors["status"] = "Choose a status from the list."
    if channel and channel not in outbox_admin.CHANNELS:
        errors["channel"] = "Choose a channel from the list."
    errors = {k: v for k, v in errors.items() if v}
    rows = (
        []
        if errors
        else await outbox_admin.find_invitations(
            status=status or None,
            step=step or None,
            channel=channel or None,
            since=start,
            until=end,
        )
    )
    return page(
        request,
        "admin/outbox.html",
        SECTION,
        status_code=400 if errors else 200,
        invitations=rows,
        statuses=outbox_admin.STATUSES,
        channels=outbox_admin.CHANNELS,
        steps=await catalog.list_steps(),
        errors=errors,
        values={
            "status": status,
            "step": step,
            "channel": channel,
            "since": since,
            "until": until,
        },
        notice=(
            f"Invitation {cancel} was cancelled."
            if cancel
            else f"Invitation {retry} is scheduled again."
            if retry
            else None
        ),
    )


async def _story_page(
    request: Request, uid: str, *, errors: dict[str, str] | None = None, status_code: int = 200
) -> Template:
    return page(
        request,
        "admin/outbox_story.html",
        SECTION,
        status_code=status_code,
        story=await outbox_admin.story(uid),
        errors=errors or {},
    )


@get("/admin/outbox/{uid:str}", include_in_schema=False, cache_control=NO_STORE)
async def story_page(request: Request, uid: FromPath[str]) -> Template:
    """One invitation from its event to its answer."""
    return await _story_page(request, uid)


async def _change(
    request: Request,
    uid: str,
    action: str,
    settings: Settings,
    clock: Clock,
) -> Any:
    before = await outbox_admin.story(uid)
    change = outbox_admin.cancel_scheduled if action == "cancel" else outbox_admin.retry_failed
    try:
        after = await change(uid, clock=clock)
    except DomainError as exc:
        return await _story_page(
            request, uid, errors={"": exc.message}, status_code=exc.status_code
        )
    # The customer is named only by the keyed hash, so their erasure blanks the entry.
    ref = audit.person_ref(before.invitation.customer, settings.secret_key)
    await audit.record(
        actor(request),
        "invitation",
        action,
        uid,
        before={"status": before.invitation.status, "attempts": before.invitation.attempts},
        after={"status": after.status, "attempts": after.attempts},
        person=ref,
        clock=clock,
    )
    return Redirect(path=f"/admin/outbox?{action}={after.uid}", status_code=303)


@post("/admin/outbox/{uid:str}/cancel", include_in_schema=False, status_code=303)
async def cancel_invitation(
    request: Request,
    uid: FromPath[str],
    settings: NamedDependency[Settings],
    clock: NamedDependency[Clock],
) -> Any:
    """Cancel a scheduled invitation."""
    return await _change(request, uid, "cancel", settings, clock)


@post("/admin/outbox/{uid:str}/retry", include_in_schema=False, status_code=303)
async def retry_invitation(
    request: Request,
    uid: FromPath[str],
    settings: NamedDependency[Settings],
    clock: NamedDependency[Clock],
) -> Any:
    """Send a failed invitation again."""
    return await _change(request, uid, "retry", settings, clock)


CONTROLLERS = [outbox_page, story_page, cancel_invitation, retry_invitation]
