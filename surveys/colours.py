"""The organisation's accent colour: a #rrggbb that white text on it, and it as text on white,
stay readable (WCAG 2.1 AA: a contrast ratio of at least 4.5:1).

Example::

    contrast_with_white("#0b5cad")  # 6.6…
    check_colour("#ffcc00", "organisation.accent_colour")  # Invalid: 1.6:1 against white
"""

from __future__ import annotations

import re
from typing import Any

from surveys.errors import Invalid

HEX = re.compile(r"#[0-9a-fA-F]{6}")
AA_NORMAL_TEXT = 4.5


def _linear(channel: int) -> float:
    # sRGB to linear light, as WCAG 2.1 defines relative luminance.
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """The relative luminance of a #rrggbb colour (0 black … 1 white)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast_with_white(colour: str) -> float:
    """The WCAG contrast ratio between `colour` and white (1 … 21)."""
    return 1.05 / (luminance(colour) + 0.05)


def colour_problem(value: Any) -> str | None:
    """Why `value` cannot be the accent colour (a sentence for the admin), or None."""
    if not isinstance(value, str) or not HEX.fullmatch(value):
        return "Write the colour as #rrggbb, such as #0b5cad."
    ratio = contrast_with_white(value)
    if ratio < AA_NORMAL_TEXT:
        return (
            f"{value} on white has a contrast of only {ratio:.1f}:1; links and buttons in it, "
            f"and white text on it, need at least {AA_NORMAL_TEXT}:1 (WCAG AA). "
            "Choose a darker colour."
        )
    return None


def check_colour(value: Any, where: str) -> str:
    """A #rrggbb colour readable as text on white and under white text; lower case."""
    problem = colour_problem(value)
    if problem is not None:
        raise Invalid(f"{where}: {problem}", field=where)
    return value.lower()
