"""Emails to employees (round invitations, set-password and reset links), queued as Messages.

Each function inserts one `Message` row; call it inside the transaction that makes the change
it announces. Listening's delivery worker sends queued messages. Links are built from the base
URL the caller passes (the configured public address, or the address the request came to).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from html import escape

from surveys.clock import Clock, system_clock
from surveys.tables import Message

KIND_ROUND_INVITATION = "round_invitation"
KIND_PASSWORD_SET = "password_set"  # noqa: S105 - a message kind, not a secret
KIND_PASSWORD_RESET = "password_reset"  # noqa: S105 - a message kind, not a secret


def password_link(base_url: str, token: str) -> str:
    """The page where a set-password or reset token is used."""
    return f"{base_url.rstrip('/')}/password/set/{token}"


def rate_link(base_url: str) -> str:
    """The employee rating page."""
    return f"{base_url.rstrip('/')}/rate"


def _when(moment: datetime) -> str:
    return moment.strftime("%d %B %Y, %H:%M %Z").lstrip("0")


async def enqueue_email(
    *,
    kind: str,
    recipient: str,
    subject: str,
    body_text: str,
    body_html: str,
    clock: Clock = system_clock,
) -> str:
    """Queue one email in the outbox and return its uid (the stable Message-ID)."""
    now = clock()
    uid = str(uuid.uuid4())
    await Message(
        uid=uid,
        kind=kind,
        channel="email",
        recipient=recipient,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        status="queued",
        next_attempt_at=now,
        created_at=now,
    ).save()
    return uid


async def queue_password_email(
    *,
    purpose: str,
    recipient: str,
    name: str,
    token: str,
    base_url: str,
    clock: Clock = system_clock,
) -> str:
    """Queue the email carrying a set-password ("set") or reset ("reset") link."""
    link = password_link(base_url, token)
    if purpose == "set":
        subject = "Set your Listening Post password"
        intro = "An account has been created for you on Listening Post."
        kind = KIND_PASSWORD_SET
    else:
        subject = "Reset your Listening Post password"
        intro = "Someone asked to reset the password of your Listening Post account."
        kind = KIND_PASSWORD_RESET
    outro = "The link works once and for 48 hours."
    if purpose != "set":
        outro += " If you did not ask for it, ignore this email: your password stays as it is."
    text = f"Hello {name},\n\n{intro}\nChoose your password here:\n\n{link}\n\n{outro}\n"
    html = (
        f"<p>Hello {escape(name)},</p><p>{escape(intro)}</p>"
        f'<p><a href="{escape(link)}">Choose your password</a></p><p>{escape(outro)}</p>'
    )
    return await enqueue_email(
        kind=kind, recipient=recipient, subject=subject, body_text=text, body_html=html, clock=clock
    )


async def queue_round_invitation(
    *,
    recipient: str,
    name: str,
    round_name: str,
    starts_at: datetime,
    ends_at: datetime,
    base_url: str,
    set_password_token: str | None = None,
    clock: Clock = system_clock,
) -> str:
    """Queue a round invitation; people without a password get the set-password link first."""
    rate = rate_link(base_url)
    period = f"from {_when(starts_at)} to {_when(ends_at)}"
    anonymity = (
        "Your answers are anonymous: nobody, administrators included, can see what you answered. "
        "Results are shown only for groups of several colleagues."
    )
    lines = [
        f"Hello {name},",
        "",
        f"The rating round \u201c{round_name}\u201d runs {period}.",
        "Please rate the steps of the customer journey your department owns, "
        "with the customer's eyes.",
        "",
    ]
    html = [
        f"<p>Hello {escape(name)},</p>",
        f"<p>The rating round \u201c{escape(round_name)}\u201d runs {escape(period)}.</p>",
        "<p>Please rate the steps of the customer journey your department owns, "
        "with the customer's eyes.</p>",
    ]
    if set_password_token is not None:
        link = password_link(base_url, set_password_token)
        lines += [
            "First choose your password (the link works once and for 48 hours):",
            link,
            "",
            "Then rate your steps here:",
        ]
        html.append(
            f'<p>First <a href="{escape(link)}">choose your password</a> '
            "(the link works once and for 48 hours).</p>"
        )
    else:
        lines.append("Rate your steps here:")
    lines += [rate, "", anonymity, ""]
    html += [f'<p><a href="{escape(rate)}">Rate your steps</a></p>', f"<p>{escape(anonymity)}</p>"]
    return await enqueue_email(
        kind=KIND_ROUND_INVITATION,
        recipient=recipient,
        subject=f"Rating round: {round_name}",
        body_text="\n".join(lines),
        body_html="\n".join(html),
        clock=clock,
    )
