from __future__ import annotations

import numpy as np
import pytest

from domaintune.config import DecisionRule
from domaintune.evaluate.decision import (
    abstain_outcome,
    abstain_table,
    choose_abstain_threshold,
    choose_class_threshold,
    class_rule_outcome,
)
from domaintune.predict.rules import apply_class_rule

# four rows: confident and right, confident and right, unsure and wrong, unsure and right
PROBS = np.array([[0.95, 0.05], [0.1, 0.9], [0.6, 0.4], [0.45, 0.55]])
GOLD = np.array([0, 1, 1, 1])

# one label's scores, highest first, and whether each row has that label
SCORES = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2])
IS_LABEL = np.array([True, True, False, True, False, False])


def rule(target: str, value: float) -> DecisionRule:
    return DecisionRule(label="urgent", target=target, value=value)


def test_abstaining_below_a_threshold_trades_coverage_for_accuracy() -> None:
    assert abstain_outcome(PROBS, GOLD, threshold=0.0)["accuracy"] == 0.75
    kept = abstain_outcome(PROBS, GOLD, threshold=0.8)
    assert (kept["coverage"], kept["accuracy"]) == (0.5, 1.0)
    assert kept["to_human_per_1000"] == 500 and kept["wrong_per_1000"] == 0
    table = abstain_table(PROBS, GOLD, thresholds=[0.8, 0.5])
    assert [row["threshold"] for row in table] == [0.0, 0.5, 0.8]


def test_abstain_threshold_is_the_lowest_that_reaches_the_target() -> None:
    assert choose_abstain_threshold(PROBS, GOLD, target_accuracy=1.0) == pytest.approx(0.9)
    assert choose_abstain_threshold(PROBS, GOLD, target_accuracy=0.75) == pytest.approx(0.55)
    assert choose_abstain_threshold(PROBS[[2]], GOLD[[2]], target_accuracy=0.9) is None


@pytest.mark.parametrize(
    ("target", "value", "expected"),
    [
        # at 0.8: rows 0.9 and 0.8 flagged, 2 of 3 found; at 0.7 recall is the same, lower bar
        ("recall", 0.6, 0.8),
        ("recall", 0.9, 0.4),  # only 0.4 finds the third
        ("precision", 0.99, 0.8),  # 0.7 flags a wrong row
        ("precision", 0.7, 0.4),  # at 0.4: 3 of 4 flagged are right, and all are found
    ],
)
def test_class_threshold_matches_the_hand_computed_one(
    target: str, value: float, expected: float
) -> None:
    """Catches the wrong end of the range: for recall the highest threshold that reaches it (so
    precision stays up), for precision the lowest (so recall stays up)."""
    assert choose_class_threshold(SCORES, IS_LABEL, rule(target, value)) == expected


def test_an_unreachable_precision_gives_no_threshold() -> None:
    """Catches a threshold returned that misses the target: the top score is a wrong row."""
    scores, is_label = np.array([0.9, 0.5]), np.array([False, True])
    assert choose_class_threshold(scores, is_label, rule("precision", 0.99)) is None


def test_class_rule_outcome_matches_the_hand_computed_one() -> None:
    """Catches a rule that flags below its threshold, or counts recall, precision or the
    fallback to the next most probable label wrongly."""
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.2, 0.3, 0.5], [0.4, 0.5, 0.1]])
    gold = np.array([0, 0, 2, 1])
    # label 0 at 0.3: rows 0, 1 and 3 flagged; row 2 falls back to its most probable other, 2
    assert apply_class_rule(probs, label_index=0, threshold=0.3).tolist() == [0, 0, 2, 0]
    outcome = class_rule_outcome(probs, gold, label_index=0, threshold=0.3)
    assert outcome["recall"] == 1.0 and outcome["precision"] == pytest.approx(2 / 3)
    assert (outcome["flagged_share"], outcome["accuracy"]) == (0.75, 0.75)
    assert (outcome["missed_per_1000"], outcome["false_alarms_per_1000"]) == (0, 250)


def scored_rows(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes; class 1's probability overlaps class 0's, as a real model's does."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, rows)
    score = np.clip(0.3 * gold + rng.normal(0.35, 0.2, rows), 0, 1)
    return np.column_stack([1 - score, score]), gold


def test_a_recall_rule_chosen_on_validation_holds_on_held_out_rows() -> None:
    """Catches a threshold that only fits the rows it was chosen on: on fresh rows from the same
    model the recall must stay near the target, and precision rules must trade recall away."""
    validation, validation_gold = scored_rows(2000, seed=0)
    test, test_gold = scored_rows(2000, seed=1)
    recall = rule("recall", 0.9)
    threshold = choose_class_threshold(validation[:, 1], validation_gold == 1, recall)
    held_out = class_rule_outcome(test, test_gold, label_index=1, threshold=threshold)
    assert held_out["recall"] == pytest.approx(0.9, abs=0.03)
    assert threshold < 0.5  # reaching 90% recall needs a lower bar than the argmax
    precise = rule("precision", 0.9)
    strict = choose_class_threshold(validation[:, 1], validation_gold == 1, precise)
    held_out_precise = class_rule_outcome(test, test_gold, label_index=1, threshold=strict)
    assert held_out_precise["precision"] == pytest.approx(0.9, abs=0.05)
    assert held_out_precise["recall"] < held_out["recall"]
