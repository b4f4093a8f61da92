"""The invitation email's sentences a survey or the organisation rewrites: subject, opening
line and link line, per locale.

A survey's own sentences come first, then the organisation's wording for the language
(`[organisation.wording.<lang>]`), then the shipped catalogue. In the journey file a step holds
its survey's sentences per locale::

    [journeys.steps.email.de]
    subject = "Wie war es: %(step)s?"
    answer = "Zur Umfrage: %(url)s"

Example::

    wording = with_survey_email(Wording.of("de", organisation), {"de": {"subject": "…"}})
    wording.text(SENTENCES["subject"].source, step="Lieferung")  # the survey's subject
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from surveys.errors import Invalid
from surveys.languages import Wording
from surveys.organisation import check_locale
from surveys.tables import Survey

TEXT_MAX = 300


class Sentence(NamedTuple):
    """One rewritable sentence: the catalogue's text, its label in the console, placeholders."""

    source: str
    label: str
    placeholders: tuple[str, ...]
    required: tuple[str, ...] = ()


SENTENCES: dict[str, Sentence] = {
    "subject": Sentence("How was it: %(step)s?", "Subject", ("step",)),
    "opening": Sentence(
        "How was it: %(step)s? It takes less than a minute.", "Opening line", ("step",)
    ),
    "answer": Sentence("Answer the survey: %(url)s", "Link line", ("url",), ("url",)),
}


def check_sentence(name: str, value: str, where: str) -> str:
    """A rewritten sentence that fills in; a stray % would break every email at send time."""
    sentence = SENTENCES[name]
    if "\x00" in value or "\n" in value or len(value) > TEXT_MAX:
        raise Invalid(f"{where} must be one line of at most {TEXT_MAX} characters", field=where)
    try:
        value % dict.fromkeys(sentence.placeholders, "x")
    except (KeyError, ValueError, TypeError):
        names = ", ".join(f"%({p})s" for p in sentence.placeholders)
        raise Invalid(
            f"Write % as %%; the placeholders allowed here are {names}.", field=where
        ) from None
    missing = [p for p in sentence.required if f"%({p})s" not in value]
    if missing:
        raise Invalid(f"Keep %({missing[0]})s: it is where the link goes.", field=where)
    return value


def check_survey_email(value: Any, where: str) -> dict[str, dict[str, str]]:
    """A step's `email` table: locale -> {subject, opening, answer}, each optional."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(
            f"{where} must hold one table per locale ([journeys.steps.email.de])", field=where
        )
    checked: dict[str, dict[str, str]] = {}
    for locale, texts in value.items():
        tag = check_locale(locale, f"{where}.{locale}").lower()
        if not isinstance(texts, dict):
            raise Invalid(
                f"{where}.{locale} must be a table of subject, opening and answer",
                field=f"{where}.{locale}",
            )
        unknown = set(texts) - set(SENTENCES)
        if unknown:
            unknown_field = f"{where}.{locale}.{sorted(unknown)[0]}"
            raise Invalid(
                f"{unknown_field} is not a sentence of the email ({', '.join(SENTENCES)})",
                field=unknown_field,
            )
        own = {}
        for name, text in texts.items():
            if not isinstance(text, str) or not text.strip():
                raise Invalid(
                    f"{where}.{locale}.{name} must be a non-empty string",
                    field=f"{where}.{locale}.{name}",
                )
            own[name] = check_sentence(name, text, f"{where}.{locale}.{name}")
        if own:
            checked[tag] = own
    return checked


def survey_sentences(email: Mapping[str, Mapping[str, str]], lang: str) -> dict[str, str]:
    """The survey's sentences for `lang` (or its language), by name."""
    tag = lang.lower()
    return dict(email.get(tag) or email.get(tag.split("-")[0]) or {})


def with_survey_email(wording: Wording, email: Mapping[str, Mapping[str, str]]) -> Wording:
    """`wording` with the survey's own sentences for its language put first."""
    own = survey_sentences(email, wording.lang)
    if not own:
        return wording
    rewritten = {SENTENCES[name].source: text for name, text in own.items()}
    return dataclasses.replace(wording, own={**wording.own, **rewritten})


def stored_email(value: Any) -> dict[str, dict[str, str]]:
    """A `Survey.email` column as read from either engine (JSON text or already a dict)."""
    return json.loads(value or "{}") if isinstance(value, str) else dict(value or {})


async def survey_email(survey_id: int) -> dict[str, dict[str, str]]:
    """A survey version's own sentences per locale ({} when it keeps the organisation's)."""
    row = await Survey.select(Survey.email).where(Survey.id == survey_id).first()
    return stored_email(row["email"] if row else None)
