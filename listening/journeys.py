"""Load a whole journey file: the organisation (surveys) plus listening's settings and triggers."""

from __future__ import annotations

from pathlib import Path

from listening.trigger_file import apply_listening_document, check_listening_document
from surveys.clock import Clock, system_clock
from surveys.journey_file import LoadSummary, apply_document, check_document, parse_toml
from surveys.tables import Department


async def load_journey_file(
    source: str | Path | dict, *, clock: Clock = system_clock
) -> LoadSummary:
    """Check the whole document first, then write it in one transaction.

    `[settings]` (the global quarantine) and `[[triggers]]` are written in the same transaction
    as the organisation, after it, so a trigger may name a step the same file creates.
    """
    doc = parse_toml(source)
    spec = check_document(doc)
    quarantine, triggers = check_listening_document(doc)
    async with Department._meta.db.transaction():
        summary = await apply_document(spec, clock=clock)
        await apply_listening_document(quarantine, triggers, summary, clock=clock)
        return summary
