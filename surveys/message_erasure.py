"""Erasing queued and sent emails that carry a customer's data (their erasure request).

A message keeps its row (the outbox's history stays whole) but loses what it said; one not yet
sent would now say nothing, so it is failed instead of sent.
"""

from __future__ import annotations

from surveys.tables import Message

ERASED_SUBJECT = "(erased)"


async def erase_messages(ids: list[int], *, recipient: bool = False) -> None:
    """Blank these messages' subject, bodies and payload, and their recipient when it is the
    erased customer's own address; a queued one is failed, never sent."""
    if not ids:
        return
    blank = {
        Message.subject: ERASED_SUBJECT,
        Message.body_text: "",
        Message.body_html: "",
        Message.payload: "{}",
    }
    if recipient:
        blank[Message.recipient] = ""
    await Message.update(
        {Message.status: "failed", Message.last_error: "customer data erased"}
    ).where(Message.id.is_in(ids) & (Message.status == "queued"))
    await Message.update(blank).where(Message.id.is_in(ids))
