"""A transaction's events: deduplicated by id among authorized callers, with each caller's
outcomes once the transaction has decided."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from listening.ingest.answers import UNAUTHORIZED, Outcome, encode_text
from listening.ingest.jobs import Work
from listening.schemas import EventIn
from listening.triggers import Decision
from surveys.tokens import token_and_key


@dataclass
class Batch:
    """The events of a transaction, deduplicated, with what the transaction learns about them."""

    works: list[Work]
    live_keys: set[str] = field(default_factory=set)
    # source id -> (work, index) of the id's first occurrence among authorized works
    first_occurrence: dict[str, tuple[Work, int]] = field(default_factory=dict)
    events: dict[str, EventIn] = field(default_factory=dict)  # new events, decoded
    received_at: dict[str, datetime] = field(default_factory=dict)
    stored_outcomes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    new_outcomes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    new_tokens: dict[str, str] = field(default_factory=dict)  # uid -> token made in here
    # source id -> (attributes JSON, uid, look-up key) computed by the server
    precomputed: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def authorized(self, work: Work) -> bool:
        """Whether the work's caller is trusted or holds a live key."""
        return work.key_hash is None or work.key_hash in self.live_keys

    def key_hashes(self) -> list[str]:
        """The API keys the works were sent with."""
        return list({w.key_hash for w in self.works if w.key_hash})

    def collect(self) -> None:
        """Keep the first occurrence of every id among authorized works."""
        for work in self.works:
            if not self.authorized(work):
                continue
            values = work.precomputed
            for n, source_id in enumerate(work.ids()):
                if source_id in self.first_occurrence:
                    continue
                self.first_occurrence[source_id] = (work, n)
                self.received_at[source_id] = work.now
                if values is not None:
                    self.precomputed[source_id] = (
                        values.attributes[n],
                        values.uids[n],
                        values.keys[n],
                    )

    def new_ids(self) -> list[str]:
        """The ids not stored before, in arrival order (the order the rules see them in),
        their events decoded."""
        new = [i for i in self.first_occurrence if i not in self.stored_outcomes]
        for source_id in new:
            if source_id not in self.events:
                work, n = self.first_occurrence[source_id]
                self.events[source_id] = work.decoded()[n]
        return new

    def attributes(self, source_id: str) -> str:
        """A new event's attributes as JSON, as stored with the event and its invitations."""
        values = self.precomputed.get(source_id)
        if values is not None:
            return values[0]
        return encode_text(self.events[source_id].attributes)

    def precomputed_uid(self, source_id: str) -> str | None:
        """The uid the server made for the event's first invitation, if any."""
        values = self.precomputed.get(source_id)
        return None if values is None else values[1]

    def lookup_key(self, source_id: str, decision: Decision, secret_key: str) -> str:
        """The stored look-up key of a scheduled invitation: the server's when the decision
        has its uid (the caller kept that token), else made now, its token kept for the
        answer."""
        assert decision.uid is not None
        values = self.precomputed.get(source_id)
        if values is not None and values[1] == decision.uid:
            return values[2]
        self.new_tokens[decision.uid], key = token_and_key(secret_key, decision.uid)
        return key

    def results(self) -> list[list[Outcome] | str]:
        """Each work's outcomes in order; later copies of an id are duplicates of the first."""
        out: list[list[Outcome] | str] = []
        answered: set[str] = set()
        for work in self.works:
            if not self.authorized(work):
                out.append(UNAUTHORIZED)
                continue
            outcomes: list[Outcome] = []
            for source_id in work.ids():
                if source_id in self.new_outcomes and source_id not in answered:
                    answered.add(source_id)
                    invitations = self.new_outcomes[source_id]
                    # Tokens made here; those the server made stay with the caller.
                    tokens = (
                        {
                            uid: self.new_tokens[uid]
                            for item in invitations
                            if (uid := item.get("uid")) in self.new_tokens
                        }
                        if self.new_tokens
                        else {}
                    )
                    outcomes.append(Outcome(source_id, False, invitations, tokens))
                else:
                    invitations = self.new_outcomes.get(
                        source_id, self.stored_outcomes.get(source_id, [])
                    )
                    outcomes.append(Outcome(source_id, True, invitations))
            out.append(outcomes)
        return out
