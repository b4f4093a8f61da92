"""A caller's events as one unit of work, and what the server computes for them first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from listening.ingest.answers import encode_text
from listening.schemas import EventIn
from listening.uids import new_uid
from surveys.tokens import token_and_key

PRECOMPUTE_FROM = 100  # events in a job
_packed_events = msgspec.msgpack.Decoder(list[EventIn])


class Precomputed(msgspec.Struct, array_like=True):
    """What the server computed for a large job's events before sending them to the SQLite
    writer: each event's attributes as JSON, and a uid with its look-up key for the invitation
    the event will most likely get (the server keeps the uid's link token for its answer).

    In batch ingestion the writer is the bottleneck while the server mostly waits for it; this
    moves the HMACs, the uids and the JSON of every event onto the server's core.
    """

    attributes: list[str]
    uids: list[str]
    keys: list[str]


@dataclass
class Work:
    """One caller's events; `key_hash` None means a trusted caller (the CLI); `precomputed`,
    what `precompute` made for them, if anything. In the writer process the events arrive as
    msgpack (`packed`, with `events` None) and are decoded only where the transaction needs
    them."""

    events: list[EventIn] | None
    now: datetime
    key_hash: str | None = None
    precomputed: Precomputed | None = None
    packed: msgspec.Raw | None = None

    def decoded(self) -> list[EventIn]:
        """The events, decoded on first use."""
        if self.events is None:
            assert self.packed is not None
            self.events = _packed_events.decode(self.packed)
        return self.events

    def ids(self) -> list[str]:
        """The events' ids."""
        return [e.id for e in self.decoded()]


@dataclass
class Prepared:
    """What `precompute` made: the values to send, and the tokens of their uids."""

    precomputed: Precomputed
    tokens: dict[str, str]  # uid -> token


def precompute(events: list[EventIn], secret_key: str) -> Prepared:
    """What can be made for new events before their transaction: attributes as JSON, and a
    uid with its look-up key each (for the invitation most events get); and each uid's token.
    """
    uids = [new_uid() for _ in events]
    pairs = [token_and_key(secret_key, uid) for uid in uids]
    values = Precomputed([encode_text(e.attributes) for e in events], uids, [p[1] for p in pairs])
    return Prepared(values, {uid: pair[0] for uid, pair in zip(uids, pairs, strict=True)})
