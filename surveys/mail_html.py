"""What every HTML email to a customer shares: the document, the organisation's header line and
its accent colour (checked as #rrggbb, AA on white, where the organisation sets it)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from urllib.parse import urljoin

from surveys.organisation import Organisation

DEFAULT_ACCENT = "#1d4a8c"


def accent(organisation: Organisation) -> str:
    """The colour of the email's links: the organisation's accent, else the default."""
    return organisation.accent_colour or DEFAULT_ACCENT


def organisation_header(organisation: Organisation, base: str) -> str:
    """The organisation's logo (resolved against `base`) and name as the first line; "" when it
    has neither."""
    logo = (
        f'<img src="{escape(urljoin(base, organisation.logo))}" alt="" height="40" '
        'style="vertical-align:middle;margin-right:8px">'
        if organisation.logo
        else ""
    )
    if not (logo or organisation.name):
        return ""
    return f'<p style="font-size:18px;font-weight:bold">{logo}{escape(organisation.name)}</p>'


def document(lang: str, body: Iterable[str]) -> str:
    """An HTML email in `lang` around these body parts."""
    return (
        f'<!doctype html><html lang="{escape(lang)}">'
        '<body style="font-family:sans-serif;color:#1a1a1a">' + "".join(body) + "</body></html>"
    )
