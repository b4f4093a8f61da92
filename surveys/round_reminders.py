"""Reminders for a rating round: an email to each invited employee who has not rated yet.

Only counts leave this module: who was reminded is never shown, so a reminder cannot be used to
learn who has or has not answered.
"""

from __future__ import annotations

from html import escape

from surveys.clock import Clock, system_clock
from surveys.employee_mail import enqueue_email, rate_link
from surveys.errors import Conflict
from surveys.rounds import get_round
from surveys.tables import RoundInvitee, SelfRating, User
from surveys.transactions import write_transaction

KIND_ROUND_REMINDER = "round_reminder"


async def not_rated_count(round_id: int) -> int:
    """How many invited employees of an open round have not rated any step yet."""
    return len(await _not_rated(round_id))


async def _not_rated(round_id: int) -> list[int]:
    invited = {
        r["user"]
        for r in await RoundInvitee.select(RoundInvitee.user).where(RoundInvitee.round == round_id)
    }
    rated = {
        r["employee"]
        for r in await SelfRating.select(SelfRating.employee).where(
            (SelfRating.round == round_id) & SelfRating.employee.is_not_null()
        )
    }
    return sorted(invited - rated)


async def remind_not_rated(round_id: int, *, base_url: str, clock: Clock = system_clock) -> int:
    """Queue a reminder to every invited employee who has not rated; returns how many."""
    info = await get_round(round_id)
    status = info.status(clock())
    if status != "open":
        raise Conflict(f"round {info.name!r} is {status}: reminders go out while it is open")
    async with write_transaction():
        ids = await _not_rated(round_id)
        users = await User.select(User.email, User.name).where(
            User.id.is_in(ids or [0]) & (User.active == True)
        )
        link = rate_link(base_url)
        until = info.ends_at.strftime("%d %B %Y, %H:%M %Z").lstrip("0")
        for user in users:
            text = (
                f"Hello {user['name']},\n\nThe rating round \u201c{info.name}\u201d is open until "
                f"{until}. You have not rated your steps yet:\n\n{link}\n\n"
                "Your answers are anonymous.\n"
            )
            html = (
                f"<p>Hello {escape(user['name'])},</p><p>The rating round \u201c"
                f"{escape(info.name)}\u201d is open until {escape(until)}. You have not rated "
                f'your steps yet: <a href="{escape(link)}">rate them now</a>.</p>'
                "<p>Your answers are anonymous.</p>"
            )
            await enqueue_email(
                kind=KIND_ROUND_REMINDER,
                recipient=user["email"],
                subject=f"Reminder: {info.name}",
                body_text=text,
                body_html=html,
                clock=clock,
            )
    return len(users)
