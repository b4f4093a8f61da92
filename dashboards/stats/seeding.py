"""Random streams seeded from the data they serve, so a figure reads the same everywhere.

A cell's interval and p-value come from random draws. Seeding each cell's stream from the
cell's own key and counts (never from a stream shared with other cells) makes the numbers a
pure function of the cell: the same on every page, filter order and export, whatever other
cells share the table.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def data_seed(*parts: Any) -> int:
    """A 64-bit seed from keys and counts (strings, numbers, arrays, nested tuples).

    Examples
    --------
    >>> data_seed("support", (1, 5), [3, 0, 2]) == data_seed("support", (1, 5), [3, 0, 2])
    True
    """
    digest = hashlib.blake2b(_canonical(parts).encode("utf-8"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def _canonical(value: Any) -> str:
    """A text form of value that equal data always share (arrays as lists of floats)."""
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    if isinstance(value, list | tuple):
        return "(" + ",".join(_canonical(v) for v in value) + ")"
    if isinstance(value, bool | str) or value is None:
        return repr(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(float(value))
    return repr(value)


def seeded(rng: np.random.Generator | int | None, *parts: Any) -> np.random.Generator:
    """A generator for one figure: `rng` itself when it is a Generator, else seeded from the data.

    None seeds from `parts` alone; an integer is mixed into the seed with them, so a caller can
    ask for another (still per-figure) stream.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(data_seed(rng, *parts))
