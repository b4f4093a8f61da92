"""The three ways events come in: single events (API and CLI), batches, and NDJSON files.

Batches and files go to the writer a chunk at a time, so the writer stores one chunk while the
next is parsed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from listening.ingest.answers import UNAUTHORIZED, Outcome, answer
from listening.ingest.ingestor import ingestor
from listening.ingest.jobs import Work
from listening.ingest.validate import check_event, parse_event
from listening.schemas import EventIn
from surveys.clock import Clock, system_clock
from surveys.errors import DomainError


async def ingest_one(
    event: EventIn, *, secret_key: str, now: datetime, key_hash: str
) -> Outcome | str:
    """One checked event from the API: its outcome, or UNAUTHORIZED for a dead key."""
    result = await ingestor(secret_key).submit(Work(events=[event], now=now, key_hash=key_hash))
    return result if isinstance(result, str) else result[0]


async def ingest_events(
    events: list[EventIn],
    *,
    secret_key: str,
    clock: Clock = system_clock,
    key_hash: str | None = None,
) -> list[Outcome] | str:
    """Ingest checked events as one unit of work; the service behind the API and the CLI."""
    work = Work(events=[check_event(e) for e in events], now=clock(), key_hash=key_hash)
    return await ingestor(secret_key).submit(work)


BATCH_CHUNK = 2000
OPENING_CHUNK = 400  # smaller, so the writer starts while the rest of the batch is parsed


def _rejected(exc: DomainError, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "status_code": exc.status_code,
        "detail": exc.message,
        "field": exc.field,
    }


async def ingest_batch(
    raws: list[bytes],
    *,
    secret_key: str,
    now: datetime,
    key_hash: str | None,
    base_url: str,
) -> dict[str, Any] | str:
    """A batch's answer: counts and one result per event, in order; UNAUTHORIZED for a dead key.

    Events go to the writer a chunk at a time as they are checked, so the writer stores one
    chunk while the next is parsed, and each chunk's answers are written while the writer stores
    the next. A later copy of an id answers as a duplicate of the first, within a chunk or not.
    """
    writer = ingestor(secret_key)
    await writer.ready()
    slots: list[dict[str, Any] | tuple[int, int]] = []
    pending: list[asyncio.Future] = []
    caller_tokens: dict[str, str] = {}  # uid -> token of the invitations precomputed here

    async def send(chunk: list[EventIn]) -> None:
        prepared = writer.precompute(chunk)
        if prepared is not None:
            caller_tokens.update(prepared.tokens)
        pending.append(writer.enqueue(Work(chunk, now, key_hash), prepared))
        # Let the loop send the chunk on (and serve other requests) before parsing the next.
        await asyncio.sleep(0)

    chunk: list[EventIn] = []
    for index, raw in enumerate(raws):
        try:
            chunk.append(parse_event(raw))
            slots.append((len(pending), len(chunk) - 1))
        except DomainError as exc:
            slots.append(_rejected(exc, index))
        if len(chunk) == (BATCH_CHUNK if pending else OPENING_CHUNK):
            await send(chunk)
            chunk = []
    if chunk:
        await send(chunk)
    results: list[dict[str, Any]] = []
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    index = 0
    for number, waiting in enumerate(pending):
        try:
            outcomes = await waiting
        except BaseException:
            # Collect the other chunks' answers too, so no failure goes unheard.
            await asyncio.gather(*pending[number + 1 :], return_exceptions=True)
            raise
        if outcomes == UNAUTHORIZED:
            await asyncio.gather(*pending[number + 1 :], return_exceptions=True)
            return UNAUTHORIZED
        while index < len(slots):
            slot = slots[index]
            if isinstance(slot, tuple):
                if slot[0] != number:
                    break
                outcome = outcomes[slot[1]]
                counts["duplicates" if outcome.duplicate else "accepted"] += 1
                shown = answer(
                    outcome, base_url=base_url, secret_key=secret_key, caller_tokens=caller_tokens
                )
                slot = {"index": index, "status_code": 200 if outcome.duplicate else 202, **shown}
            else:
                counts["rejected"] += 1
            results.append(slot)
            index += 1
    for slot in slots[index:]:  # rejected events after the last chunk
        counts["rejected"] += 1
        results.append(slot)  # type: ignore[arg-type]
    return {**counts, "results": results}


@dataclass
class FileSummary:
    """What a bulk import did: counts of events and of trigger outcomes, and the first errors."""

    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


FILE_IN_FLIGHT = 2  # chunks sent to the writer and not yet answered, in a bulk import


async def ingest_file(
    path: Any,
    *,
    secret_key: str,
    clock: Clock = system_clock,
    chunk: int = 2000,
    progress: Any = None,
) -> FileSummary:
    """Import an NDJSON file of events with the API's rules and idempotency, chunk by chunk.

    `progress(n_bytes)` is called as the file is read. Bad lines are counted and the first few
    reported with their line number; the others are stored. Chunks are pipelined like a
    batch's: the writer stores one while the next is read and parsed.
    """
    summary = FileSummary()
    writer = ingestor(secret_key)
    await writer.ready()
    in_flight: deque[asyncio.Future] = deque()
    pending: list[EventIn] = []

    def count(result: list[Outcome] | str) -> None:
        assert result != UNAUTHORIZED  # a trusted caller: no key to check
        for outcome in result:
            if outcome.duplicate:
                summary.duplicates += 1
                continue
            summary.accepted += 1
            for item in outcome.invitations:
                summary.outcomes[item["status"]] = summary.outcomes.get(item["status"], 0) + 1

    async def settle(keep: int) -> None:
        while len(in_flight) > keep:
            try:
                count(await in_flight.popleft())
            except BaseException:
                await asyncio.gather(*in_flight, return_exceptions=True)
                raise

    async def send() -> None:
        prepared = writer.precompute(pending)
        in_flight.append(writer.enqueue(Work(list(pending), clock()), prepared))
        pending.clear()
        await settle(FILE_IN_FLIGHT)

    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if progress is not None:
                progress(len(line))
            if not line.strip():
                continue
            summary.read += 1
            try:
                pending.append(parse_event(line))
            except DomainError as exc:
                summary.rejected += 1
                if len(summary.errors) < 20:
                    summary.errors.append(f"line {number}: {exc.field}: {exc.message}")
                continue
            if len(pending) >= chunk:
                await send()
    if pending:
        await send()
    await settle(0)
    return summary
