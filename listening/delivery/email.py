"""Email delivery over SMTP: survey invitations with one-click scores, and queued messages.

An invitation email has a plain-text and an HTML part, the survey link, the first rating
question's scale as links (`/s/<token>?answer=<score>`, which only preselect the score: a GET never
stores an answer, since mail scanners follow links), an unsubscribe link, and the RFC 8058 headers
`List-Unsubscribe` / `List-Unsubscribe-Post` so mail clients offer one-click opt-out. Its
Message-ID is derived from the invitation's uid and the sender's domain, never from the address a
worker links to, so a message sent twice after a crash, by this worker or another, carries the
same Message-ID and can be recognised as the same one.
Every word is in the customer's language (`surveys.languages`), a survey's own subject, opening
and link line first (`surveys.invitation_text`); the organisation's name (and logo) heads the
message and its accent colour marks the links.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from html import escape

import aiosmtplib

from listening.settings import SmtpSettings
from surveys.languages import N_, Wording
from surveys.mail_html import accent, document, organisation_header
from surveys.organisation import Organisation
from surveys.scales import end_labels, scale_of

TIMEOUT_SECONDS = 30.0
ENGLISH = Wording.of("en", Organisation())
ONE_CLICK = N_("A score opens the survey with it chosen; it is sent when you press “Send”.")


class SmtpError(Exception):
    """The relay refused or could not be reached; the message will be tried again later."""


@dataclass(frozen=True)
class FirstQuestion:
    """The first rating question of a survey, as the email shows it."""

    kind: str
    text: str
    low_label: str | None = None
    high_label: str | None = None


@dataclass(frozen=True)
class InvitationMail:
    """Everything an invitation email says."""

    uid: str
    to: str
    name: str | None
    step_name: str
    survey_url: str
    unsubscribe_url: str
    question: FirstQuestion | None
    reminder: bool = False
    wording: Wording = ENGLISH


def message_id(uid: str, sender: str, suffix: str = "") -> str:
    """A Message-ID fixed by the uid and the sender: the same message always carries the same id."""
    # Not the base URL's host: workers that link to different addresses (each `serve` process's
    # own, when LISTENING_BASE_URL is unset) must still give a re-sent message the same id.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "listening.invalid"
    return f"<{uid}{suffix}@{domain}>"


def pick_wording(wording: dict[str, str] | str, locale: str | None) -> str:
    """The question's text in the customer's locale, its language, or the default (first)."""
    if isinstance(wording, str):
        return wording
    if locale:
        for candidate in (locale, locale.replace("_", "-").split("-")[0]):
            if candidate in wording:
                return wording[candidate]
    return next(iter(wording.values()), "")


def _score_links(mail: InvitationMail) -> list[tuple[int, str]]:
    if mail.question is None:
        return []
    low, high = scale_of(mail.question.kind)
    return [(score, f"{mail.survey_url}?answer={score}") for score in range(low, high + 1)]


def _hello(mail: InvitationMail) -> str:
    _ = mail.wording.text
    return _("Hello %(name)s,", name=mail.name) if mail.name else _("Hello,")


def _end_labels(mail: InvitationMail) -> tuple[str, str]:
    assert mail.question is not None
    low, high = end_labels(mail.question.kind, mail.question.low_label, mail.question.high_label)
    return mail.wording.text(low), mail.wording.text(high)


def _text_body(mail: InvitationMail) -> str:
    _ = mail.wording.text
    organisation = mail.wording.organisation.name
    lines = [organisation, ""] if organisation else []
    lines += [_hello(mail), ""]
    if mail.reminder:
        lines += [_("A short reminder: we would still like to hear from you."), ""]
    lines += [_("How was it: %(step)s? It takes less than a minute.", step=mail.step_name), ""]
    if mail.question is not None:
        low_label, high_label = _end_labels(mail)
        lines += [
            mail.question.text,
            _(
                "(%(low)s = %(low_label)s, %(high)s = %(high_label)s)",
                low=_first(mail),
                low_label=low_label,
                high=_last(mail),
                high_label=high_label,
            ),
            _(ONE_CLICK),
        ]
        lines += [f"  {score}: {url}" for score, url in _score_links(mail)]
        lines.append("")
    lines += [
        _("Answer the survey: %(url)s", url=mail.survey_url),
        "",
        _("No more survey emails: %(url)s", url=mail.unsubscribe_url),
    ]
    return "\n".join(lines) + "\n"


def _first(mail: InvitationMail) -> int:
    return scale_of(mail.question.kind)[0] if mail.question else 0


def _last(mail: InvitationMail) -> int:
    return scale_of(mail.question.kind)[1] if mail.question else 0


def _html_body(mail: InvitationMail) -> str:
    _ = mail.wording.text
    parts = [
        organisation_header(mail.wording.organisation, mail.survey_url),
        f"<p>{escape(_hello(mail))}</p>",
    ]
    if mail.reminder:
        parts.append(
            f"<p>{escape(_('A short reminder: we would still like to hear from you.'))}</p>"
        )
    how_was_it = _("How was it: %(step)s? It takes less than a minute.", step=mail.step_name)
    parts.append(f"<p>{escape(how_was_it)}</p>")
    colour = accent(mail.wording.organisation)
    if mail.question is not None:
        low_label, high_label = _end_labels(mail)
        cells = "".join(
            # Narrow enough that NPS's eleven links fit one row of a phone's mail app.
            f'<td style="padding:1px"><a href="{escape(url)}" style="display:inline-block;'
            f"min-width:24px;padding:10px 2px;text-align:center;border:1px solid {colour};"
            f"color:{colour};"
            f'text-decoration:none" aria-label="{score}">{score}</a></td>'
            for score, url in _score_links(mail)
        )
        parts += [
            f"<p><strong>{escape(mail.question.text)}</strong></p>",
            f'<table role="presentation" cellspacing="0"><tr>{cells}</tr></table>',
            f'<p style="font-size:13px">{_first(mail)} = {escape(low_label)}, '
            f"{_last(mail)} = {escape(high_label)}<br>"
            f"{escape(_(ONE_CLICK))}</p>",
        ]
    answer, stop = _("Answer the survey"), _("No more survey emails")
    parts += [
        f'<p><a href="{escape(mail.survey_url)}" style="color:{colour}">{escape(answer)}</a></p>',
        f'<p style="font-size:12px;color:#555"><a href="{escape(mail.unsubscribe_url)}">'
        f"{escape(stop)}</a></p>",
    ]
    return document(mail.wording.lang, parts)


def invitation_message(mail: InvitationMail, *, sender: str, now) -> EmailMessage:
    """The MIME message of an invitation (or its reminder)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = formataddr((mail.name or "", mail.to)) if mail.name else mail.to
    _ = mail.wording.text
    subject = _("How was it: %(step)s?", step=mail.step_name)
    msg["Subject"] = _("Reminder: %(subject)s", subject=subject) if mail.reminder else subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(mail.uid, sender, ".reminder" if mail.reminder else "")
    msg["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_text_body(mail))
    msg.add_alternative(_html_body(mail), subtype="html")
    return msg


def plain_message(
    *,
    uid: str,
    sender: str,
    to: str,
    subject: str,
    body_text: str,
    body_html: str,
    now,
) -> EmailMessage:
    """The MIME message of a queued `Message` row."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(uid, sender)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body_text or "")
    if body_html:
        msg.add_alternative(body_html, subtype="html")
    return msg


def sender_address(smtp: SmtpSettings) -> str:
    """The envelope sender: the address part of the configured From."""
    return parseaddr(smtp.sender)[1] or smtp.sender


async def send_message(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Hand a message to the SMTP relay; raise SmtpError when it is not accepted."""
    if not smtp.host:
        raise SmtpError("no SMTP host configured")
    try:
        await aiosmtplib.send(
            message,
            sender=sender_address(smtp),
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.tls == "tls",
            start_tls=smtp.tls == "starttls",
            timeout=TIMEOUT_SECONDS,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SmtpError(f"{type(exc).__name__}: {exc}") from None
