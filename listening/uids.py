"""Invitation uids: time-ordered UUIDs from a maintained library."""

from __future__ import annotations

from uuid_utils import uuid7


def new_uid() -> str:
    """A time-ordered UUID (version 7, RFC 9562): milliseconds, then random bits.

    New invitations land at the end of the uid index instead of on a random page of it, which
    halves the pages a batch of invitations dirties. The uid is no secret: tokens are HMACs of it.
    """
    return str(uuid7())
