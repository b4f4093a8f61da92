"""Load a whole journey file: the organisation (surveys) plus listening's settings and triggers."""

from __future__ import annotations

from pathlib import Path

from surveys.clock import Clock, system_clock
from surveys.journey_file import LoadSummary, apply_document, check_document, parse_toml
from surveys.tables import Department


async def load_journey_file(
    source: str | Path | dict, *, clock: Clock = system_clock
) -> LoadSummary:
    """Check the whole document first, then write it in one transaction."""
    doc = parse_toml(source)
    spec = check_document(doc)
    async with Department._meta.db.transaction():
        return await apply_document(spec, clock=clock)
