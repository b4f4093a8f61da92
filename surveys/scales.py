"""The answer scales of the question kinds: levels, end labels and default alert thresholds.

Dashboards, employee ratings and the survey pages all read scales from here, so a kind means
the same thing everywhere. Rating kinds have integer levels; `choice` and `text` have none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """A rating kind's levels, its end labels and its default alert threshold."""

    kind: str
    low: int
    high: int
    low_label: str
    high_label: str
    # A score at or below this opens a follow-up when higher is better (None: no default alert).
    alert_at_most: int | None

    @property
    def levels(self) -> range:
        """Every level of the scale, lowest first."""
        return range(self.low, self.high + 1)


SCALES: dict[str, Scale] = {
    "csat": Scale("csat", 1, 5, "Very dissatisfied", "Very satisfied", 2),
    "ces": Scale("ces", 1, 7, "Very difficult", "Very easy", 3),
    "nps": Scale("nps", 0, 10, "Not at all likely", "Extremely likely", 6),
    "likert5": Scale("likert5", 1, 5, "Strongly disagree", "Strongly agree", None),
    "likert7": Scale("likert7", 1, 7, "Strongly disagree", "Strongly agree", None),
}

RATING_KINDS: tuple[str, ...] = tuple(SCALES)
OTHER_KINDS: tuple[str, ...] = ("choice", "text")
KINDS: tuple[str, ...] = RATING_KINDS + OTHER_KINDS


def is_rating(kind: str) -> bool:
    """Whether answers of this kind are scores on a scale."""
    return kind in SCALES


def scale_of(kind: str) -> tuple[int, int]:
    """The lowest and highest level of a rating kind; KeyError for choice and text."""
    scale = SCALES[kind]
    return scale.low, scale.high


def end_labels(
    kind: str, low_label: str | None = None, high_label: str | None = None
) -> tuple[str, str]:
    """The words at the two ends of a scale: the question's own labels, else the kind's."""
    scale = SCALES[kind]
    return low_label or scale.low_label, high_label or scale.high_label


def alert_threshold(kind: str, threshold: int | None, higher_is_better: bool = True) -> int | None:
    """The score at or past which an answer opens a follow-up (None: this question never alerts).

    A question's own threshold wins. The kind's default is written for higher-is-better scales;
    when lower is better the default is mirrored (CES 1–7 at most 3 becomes at least 5).
    """
    if threshold is not None:
        return threshold
    scale = SCALES.get(kind)
    if scale is None or scale.alert_at_most is None:
        return None
    if higher_is_better:
        return scale.alert_at_most
    return scale.low + scale.high - scale.alert_at_most


def is_alert(score: int, threshold: int | None, higher_is_better: bool = True) -> bool:
    """Whether a score is at or past the threshold (below it when higher is better)."""
    if threshold is None:
        return False
    return score <= threshold if higher_is_better else score >= threshold
