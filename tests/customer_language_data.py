"""Test data for the customer-language tests: the demo organisation and words to look for."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

import listening
from listening.journeys import load_journey_file
from surveys.languages import LOCALE_DIR

DEMO_JOURNEY = Path(listening.__file__).parent / "demo" / "journey.toml"
# Shown on every page whatever the language: the organisation's name and numbers.
NOT_INTERFACE = {"example", "shop", "logo"}


def interface_words(lang: str = "de") -> set[str]:
    """English words of the interface that never occur in `lang`'s catalogue."""
    with (LOCALE_DIR / "messages.pot").open("rb") as source:
        template = read_po(source)
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as source:
        translated = read_po(source)
    english = {w.lower() for m in template if m.id for w in words(_without_placeholders(m.id))}
    foreign = {
        w.lower() for m in translated if m.string for w in words(_without_placeholders(m.string))
    }
    return english - foreign - NOT_INTERFACE


def _without_placeholders(text: str) -> str:
    return re.sub(r"%\(\w+\)s", " ", text)


def words(text: str) -> list[str]:
    """The words of a text, three letters or more."""
    return [w for w in re.findall(r"[^\W\d_]{3,}", text)]


def english_in(text: str, lang: str = "de") -> set[str]:
    """The English interface words found in a text meant to be in `lang`."""
    vocabulary = interface_words(lang)
    without_links = re.sub(r"https?://\S+", " ", text)
    return {w for w in words(without_links) if w.lower() in vocabulary}


async def load_demo(extra: str = "") -> None:
    """The demo's journey file (with its German, French and Spanish wording)."""
    await load_journey_file(DEMO_JOURNEY.read_text(encoding="utf-8") + extra)
