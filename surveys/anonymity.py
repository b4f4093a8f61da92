"""Anonymity rules for employee ratings, as pure functions every aggregate goes through.

Employees answer honestly only when no answer can be traced back to them, so:

- a cell (a step, a department, a question, one round) is shown only when at least `threshold`
  distinct employees of that round rated it (default 5, never below `MIN_THRESHOLD`);
- employee comments are shown only from `comment_threshold` raters (default 10), and never below
  the rating threshold;
- complementary suppression: within a breakdown (the steps of one department, the departments
  of the organisation) where a cell is hidden, the next smallest non-empty cells are hidden too,
  until at least two cells are hidden and the hidden cells together hold at least `threshold`
  raters (or nothing is left to hide), so no hidden value can be worked out by subtracting the
  shown cells from a total;
- a cell nobody rated is empty, not hidden: it shows nothing, reveals nothing, and causes no
  complementary suppression;
- a parent hidden in its own breakdown hides all its children (its total would otherwise be the
  sum of the children).

Counts are of one round at a time: ratings are never pooled across rounds, so each employee
counts once and the threshold counts distinct raters.

Typical use::

    reasons = suppress({"pick": 7, "pack": 2, "ship": 4, "return": 0}, threshold=5)
    # {"pick": None, "pack": TOO_FEW_RATERS, "ship": COMPLEMENTARY, "return": None}
    # "return" is empty (0 raters): show it as "no ratings", not as hidden.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from enum import StrEnum
from typing import TypeVar

MIN_THRESHOLD = 3
DEFAULT_THRESHOLD = 5
DEFAULT_COMMENT_THRESHOLD = 10

K = TypeVar("K", bound=Hashable)
P = TypeVar("P", bound=Hashable)


class SuppressionReason(StrEnum):
    """Why an employee-side value is not shown."""

    TOO_FEW_RATERS = "too_few_raters"  # fewer than the threshold rated this cell
    COMPLEMENTARY = "complementary"  # hidden so a hidden neighbour cannot be subtracted out
    PARENT_HIDDEN = "parent_hidden"  # the group this cell belongs to is hidden
    TOO_FEW_FOR_COMMENTS = "too_few_for_comments"  # comments need more raters than scores


def effective_threshold(threshold: int) -> int:
    """The threshold actually applied: never below MIN_THRESHOLD, whatever is configured."""
    return max(MIN_THRESHOLD, int(threshold))


def effective_comment_threshold(comment_threshold: int, threshold: int) -> int:
    """The comment threshold actually applied: never below the rating threshold."""
    return max(int(comment_threshold), effective_threshold(threshold))


def cell_reason(raters: int, *, threshold: int = DEFAULT_THRESHOLD) -> SuppressionReason | None:
    """Primary suppression of one cell on its own: TOO_FEW_RATERS for 1..threshold-1, else None.

    A cell with 0 raters is empty, not hidden, so it gets None too; callers tell empty from
    shown by its count.
    """
    if raters < 0:
        raise ValueError(f"raters must not be negative, got {raters}")
    if 0 < raters < effective_threshold(threshold):
        return SuppressionReason.TOO_FEW_RATERS
    return None


def is_shown(raters: int, *, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Whether a single cell with this many raters may show its values (ignores its neighbours)."""
    return raters >= effective_threshold(threshold)


def suppress(
    counts: Mapping[K, int], *, threshold: int = DEFAULT_THRESHOLD
) -> dict[K, SuppressionReason | None]:
    """The suppression reason of every cell of one breakdown (None: shown, or empty when 0).

    `counts` maps each cell of the breakdown (e.g. each step of one department, in one round) to
    its number of distinct raters. Cells below the threshold are hidden (TOO_FEW_RATERS); then,
    if any cell is hidden, the smallest shown non-empty cells are hidden as well (COMPLEMENTARY)
    until at least two cells are hidden and the hidden cells hold at least `threshold` raters
    together, or no non-empty cell is left. Ties are broken by the order of `counts`.
    """
    limit = effective_threshold(threshold)
    reasons: dict[K, SuppressionReason | None] = {
        key: cell_reason(n, threshold=limit) for key, n in counts.items()
    }
    hidden = [key for key, reason in reasons.items() if reason is not None]
    if not hidden:
        return reasons
    hidden_raters = sum(counts[key] for key in hidden)
    # sorted() is stable, so equal counts keep the caller's order.
    candidates = sorted(
        (key for key, n in counts.items() if n > 0 and reasons[key] is None),
        key=lambda key: counts[key],
    )
    for key in candidates:
        if len(hidden) >= 2 and hidden_raters >= limit:
            break
        reasons[key] = SuppressionReason.COMPLEMENTARY
        hidden.append(key)
        hidden_raters += counts[key]
    return reasons


def suppress_grouped(
    counts: Mapping[tuple[P, K], int], *, threshold: int = DEFAULT_THRESHOLD
) -> dict[tuple[P, K], SuppressionReason | None]:
    """`suppress` applied separately within each group: keys are (group, cell) pairs."""
    groups: dict[P, dict[K, int]] = {}
    for (group, cell), n in counts.items():
        groups.setdefault(group, {})[cell] = n
    reasons: dict[tuple[P, K], SuppressionReason | None] = {}
    for group, cells in groups.items():
        for cell, reason in suppress(cells, threshold=threshold).items():
            reasons[(group, cell)] = reason
    return reasons


def suppress_hierarchy(
    parents: Mapping[P, int],
    children: Mapping[P, Mapping[K, int]],
    *,
    threshold: int = DEFAULT_THRESHOLD,
) -> tuple[dict[P, SuppressionReason | None], dict[tuple[P, K], SuppressionReason | None]]:
    """Suppress a two-level breakdown (departments, then each department's steps).

    `parents` holds each parent's distinct raters (not the sum of its children: one employee
    rates several steps); `children[parent]` each child's raters. Parents are suppressed among
    themselves, children within their parent; a hidden parent hides all its non-empty children.
    Returns (parent reasons, {(parent, child): reason}).
    """
    parent_reasons = suppress(parents, threshold=threshold)
    child_reasons: dict[tuple[P, K], SuppressionReason | None] = {}
    for parent, cells in children.items():
        hidden_parent = parent_reasons.get(parent) is not None
        for cell, reason in suppress(cells, threshold=threshold).items():
            if hidden_parent and cells[cell] > 0:
                reason = reason or SuppressionReason.PARENT_HIDDEN
            child_reasons[(parent, cell)] = reason
    return parent_reasons, child_reasons


def comments_reason(
    raters: int,
    *,
    comment_threshold: int = DEFAULT_COMMENT_THRESHOLD,
    threshold: int = DEFAULT_THRESHOLD,
) -> SuppressionReason | None:
    """Whether employee comments of a cell with this many raters may be shown (None: yes)."""
    if raters < effective_comment_threshold(comment_threshold, threshold):
        return SuppressionReason.TOO_FEW_FOR_COMMENTS
    return None


def describe(
    reason: SuppressionReason,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    comment_threshold: int = DEFAULT_COMMENT_THRESHOLD,
) -> str:
    """A sentence for people saying why a value is hidden (never how many raters there were)."""
    limit = effective_threshold(threshold)
    if reason is SuppressionReason.TOO_FEW_RATERS:
        return f"Hidden: fewer than {limit} employees rated this."
    if reason is SuppressionReason.COMPLEMENTARY:
        return "Hidden so that a smaller hidden group cannot be worked out from the total."
    if reason is SuppressionReason.PARENT_HIDDEN:
        return "Hidden because the group it belongs to is hidden."
    limit = effective_comment_threshold(comment_threshold, threshold)
    return f"Comments are shown from {limit} employees on."
