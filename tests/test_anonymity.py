"""The anonymity rules as pure functions: threshold, comments, complementary suppression."""

from __future__ import annotations

import itertools

import pytest

from surveys.anonymity import (
    MIN_THRESHOLD,
    SuppressionReason,
    cell_reason,
    comments_reason,
    describe,
    effective_comment_threshold,
    effective_threshold,
    is_shown,
    suppress,
    suppress_grouped,
    suppress_hierarchy,
)

HIDDEN = SuppressionReason.TOO_FEW_RATERS
COMPLEMENT = SuppressionReason.COMPLEMENTARY


def test_threshold_never_below_three():
    assert effective_threshold(1) == MIN_THRESHOLD == 3
    assert effective_threshold(7) == 7
    assert cell_reason(2, threshold=1) is HIDDEN
    assert cell_reason(3, threshold=1) is None


def test_single_cell_threshold():
    assert cell_reason(4, threshold=5) is HIDDEN
    assert cell_reason(5, threshold=5) is None
    assert cell_reason(1) is HIDDEN
    assert not is_shown(4, threshold=5)
    assert is_shown(5, threshold=5)


def test_nobody_rated_is_empty_not_hidden():
    assert cell_reason(0) is None
    assert not is_shown(0)


def test_negative_count_is_a_bug():
    with pytest.raises(ValueError, match="raters"):
        cell_reason(-1)


def test_all_above_threshold_nothing_hidden():
    assert suppress({"a": 5, "b": 9, "c": 6}, threshold=5) == {"a": None, "b": None, "c": None}


def test_one_hidden_hides_the_next_smallest():
    reasons = suppress({"pick": 7, "pack": 2, "ship": 6, "return": 9}, threshold=5)
    assert reasons == {"pick": None, "pack": HIDDEN, "ship": COMPLEMENT, "return": None}


def test_empty_cells_cause_and_receive_no_suppression():
    reasons = suppress({"a": 0, "b": 8, "c": 12}, threshold=5)
    assert reasons == {"a": None, "b": None, "c": None}
    # the empty cell is not the "next smallest" that would be hidden
    reasons = suppress({"a": 0, "b": 3, "c": 8, "d": 12}, threshold=5)
    assert reasons == {"a": None, "b": HIDDEN, "c": COMPLEMENT, "d": None}


def test_two_hidden_cells_whose_sum_is_below_threshold_hide_one_more():
    # 1 + 1 = 2 raters hidden: total minus the shown cells would reveal a group of two.
    reasons = suppress({"a": 1, "b": 1, "c": 5, "d": 20}, threshold=5)
    assert reasons == {"a": HIDDEN, "b": HIDDEN, "c": COMPLEMENT, "d": None}


def test_two_hidden_cells_with_enough_raters_together_need_no_more():
    reasons = suppress({"a": 3, "b": 4, "c": 5, "d": 20}, threshold=5)
    assert reasons == {"a": HIDDEN, "b": HIDDEN, "c": None, "d": None}


def test_single_non_empty_cell_hidden_cannot_complement():
    assert suppress({"a": 2, "b": 0}, threshold=5) == {"a": HIDDEN, "b": None}


def test_ties_follow_input_order():
    reasons = suppress({"x": 2, "b": 6, "a": 6}, threshold=5)
    assert reasons == {"x": HIDDEN, "b": COMPLEMENT, "a": None}


@pytest.mark.parametrize("threshold", [3, 5, 8])
def test_no_hidden_value_recoverable_by_subtraction(threshold):
    # Exhaustive over small breakdowns: whenever something is hidden, at least two cells are
    # hidden and together they hold at least the threshold, so "total minus shown" never
    # isolates a group smaller than the threshold.
    for counts in itertools.product(range(0, threshold + 3), repeat=4):
        cells = dict(enumerate(counts))
        reasons = suppress(cells, threshold=threshold)
        hidden = [k for k, r in reasons.items() if r is not None]
        for k, n in cells.items():
            if 0 < n < threshold:
                assert reasons[k] is HIDDEN
            if n == 0:
                assert reasons[k] is None
        non_empty = [k for k, n in cells.items() if n > 0]
        if hidden and len(hidden) < len(non_empty):
            assert len(hidden) >= 2
            assert sum(cells[k] for k in hidden) >= threshold


def test_grouped_suppression_is_per_group():
    counts = {("ops", "pick"): 2, ("ops", "pack"): 6, ("sales", "quote"): 6, ("sales", "deal"): 7}
    reasons = suppress_grouped(counts, threshold=5)
    assert reasons[("ops", "pick")] is HIDDEN
    assert reasons[("ops", "pack")] is COMPLEMENT
    assert reasons[("sales", "quote")] is None
    assert reasons[("sales", "deal")] is None


def test_hidden_parent_hides_its_children():
    parents = {"ops": 9, "sales": 4, "support": 11}
    children = {
        "ops": {"pick": 9, "pack": 8},
        "sales": {"quote": 4, "deal": 0},
        "support": {"ticket": 11},
    }
    parent_reasons, child_reasons = suppress_hierarchy(parents, children, threshold=5)
    assert parent_reasons == {"ops": COMPLEMENT, "sales": HIDDEN, "support": None}
    assert child_reasons[("ops", "pick")] is SuppressionReason.PARENT_HIDDEN
    assert child_reasons[("ops", "pack")] is SuppressionReason.PARENT_HIDDEN
    assert child_reasons[("sales", "quote")] is HIDDEN
    assert child_reasons[("sales", "deal")] is None  # empty stays empty
    assert child_reasons[("support", "ticket")] is None


def test_comments_need_their_own_threshold():
    assert comments_reason(9, comment_threshold=10) is SuppressionReason.TOO_FEW_FOR_COMMENTS
    assert comments_reason(10, comment_threshold=10) is None
    # never below the rating threshold
    assert effective_comment_threshold(2, 6) == 6
    assert comments_reason(5, comment_threshold=2, threshold=6) is not None


def test_descriptions_name_the_threshold_not_the_count():
    text = describe(HIDDEN, threshold=5)
    assert "5" in text
    assert "comments" in describe(SuppressionReason.TOO_FEW_FOR_COMMENTS).lower()
    assert "12" in describe(SuppressionReason.TOO_FEW_FOR_COMMENTS, comment_threshold=12)
