"""The customer's language: gettext catalogues and the wording of customer pages and emails.

Every word a customer reads around the questions (survey, one-click, thank-you, opt-out,
feedback and error pages, invitation and reminder emails) is a gettext message, translated by
the catalogues in `surveys/locale/<lang>/LC_MESSAGES/messages.po`. Those are compiled in memory
by Babel when first needed, so a fresh clone and a built wheel work without a build step. The
organisation's `[organisation.wording.<lang>]` table overrides any message and adds languages.

The language is the one the questions are shown in (`surveys.answers.pick_wording`): the
invitation's locale (`de-CH`), its language (`de`), else the survey's first language. A
feedback post, having no invitation, follows the browser's Accept-Language the same way.

Example::

    wording = Wording.of("de", organisation)
    wording.text("Send")                      # "Senden"
    wording.text("Choose a number from %(low)s to %(high)s.", low=0, high=10)
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from markupsafe import Markup, escape

from surveys.organisation import Organisation
from surveys.scales import SCALES

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"  # the language of the messages in the code and templates
SHIPPED = ("en", "de", "fr", "es")


def N_(message: str) -> str:  # the gettext name for "translate later"
    """Mark a message for the catalogue; it is translated where it is shown."""
    return message


# The scales' default end labels (surveys.scales) are shown to customers: in the catalogue too.
SCALE_LABELS = (
    N_("Very dissatisfied"),
    N_("Very satisfied"),
    N_("Very difficult"),
    N_("Very easy"),
    N_("Not at all likely"),
    N_("Extremely likely"),
    N_("Strongly disagree"),
    N_("Strongly agree"),
)
assert {s.low_label for s in SCALES.values()} | {s.high_label for s in SCALES.values()} <= set(
    SCALE_LABELS
), "a scale's end label is missing from SCALE_LABELS"


@cache
def shipped_languages() -> frozenset[str]:
    """The languages with a catalogue in `surveys/locale/`, and the source language."""
    found = {p.parent.parent.name.lower() for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")}
    return frozenset({SOURCE_LANGUAGE, *found})


@cache
def catalogue(lang: str) -> gettext.NullTranslations:
    """The shipped catalogue of a language, compiled from its .po file; empty when none."""
    if lang == SOURCE_LANGUAGE or lang not in shipped_languages():
        return gettext.NullTranslations()
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        messages = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, messages, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _language(locale: str | None) -> str:
    return (locale or SOURCE_LANGUAGE).lower().replace("_", "-")


def _lookup(tag: str, organisation: Organisation) -> tuple[dict[str, str], str]:
    """The organisation's wording and the shipped catalogue for a tag or its language."""
    base = tag.split("-")[0]
    own = organisation.wording.get(tag) or organisation.wording.get(base) or {}
    shipped = tag if tag in shipped_languages() else base
    return dict(own), shipped


@dataclass(frozen=True)
class Wording:
    """The interface words in one language, with the organisation's own wording first."""

    lang: str
    organisation: Organisation
    own: dict[str, str]
    translations: gettext.NullTranslations

    @classmethod
    def of(cls, locale: str | None, organisation: Organisation) -> Wording:
        """The wording for `locale` (the language the questions are shown in)."""
        tag = _language(locale)
        own, shipped = _lookup(tag, organisation)
        return cls(lang=tag, organisation=organisation, own=own, translations=catalogue(shipped))

    def _numbers(self, params: dict[str, Any]) -> dict[str, Any]:
        # Whole numbers as this language writes them (2,000 / 2.000 / 2 000).
        return {
            k: format_decimal(v, locale=_babel_locale(self.lang))
            if isinstance(v, int) and not isinstance(v, bool)
            else v
            for k, v in params.items()
        }

    def text(self, message: str, **params: Any) -> str:
        """A message in this language, with `%(name)s` placeholders filled in."""
        translated = self.own.get(message) or self.translations.gettext(message)
        return translated % self._numbers(params) if params else translated

    def html(self, message: str, **params: Any) -> Markup:
        """`text` for templates: the message escaped, each parameter escaped unless Markup."""
        translated = self.own.get(message) or self.translations.gettext(message)
        return escape(translated) % self._numbers(params) if params else escape(translated)

    def step_name(self, step_key: str, default: str) -> str:
        """The step's name in this language (from the journey file), else its name."""
        return self.organisation.step_name(step_key, self.lang, default)

    def label(self, text: str | None) -> str | None:
        """A scale's end label or a choice as shown: the organisation's wording, the catalogue."""
        return None if text is None else self.text(text)

    def template_context(self) -> dict[str, Any]:
        """What every customer template reads: `_`, `lang` and `organisation`."""
        return {"_": self.html, "lang": self.lang, "organisation": self.organisation}


@cache
def _babel_locale(tag: str) -> Locale:
    for candidate in (tag.replace("-", "_"), tag.split("-")[0]):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse(SOURCE_LANGUAGE)
