from __future__ import annotations

import numpy as np
import pytest

from domaintune.config import DecisionRule
from domaintune.decision import (
    abstain_outcome,
    abstain_table,
    apply_class_rule,
    choose_abstain_threshold,
    choose_class_threshold,
    class_rule_outcome,
)

# four rows: confident and right, confident and right, unsure and wrong, unsure and right
PROBS = np.array([[0.95, 0.05], [0.1, 0.9], [0.6, 0.4], [0.45, 0.55]])
GOLD = np.array([0, 1, 1, 1])


def test_abstaining_below_a_threshold_trades_coverage_for_accuracy() -> None:
    assert abstain_outcome(PROBS, GOLD, 0.0)["accuracy"] == 0.75
    kept = abstain_outcome(PROBS, GOLD, 0.8)
    assert (kept["coverage"], kept["accuracy"]) == (0.5, 1.0)
    assert kept["to_human_per_1000"] == 500 and kept["wrong_per_1000"] == 0
    table = abstain_table(PROBS, GOLD, [0.8, 0.5])
    assert [row["threshold"] for row in table] == [0.0, 0.5, 0.8]


def test_abstain_threshold_is_the_lowest_that_reaches_the_target() -> None:
    assert choose_abstain_threshold(PROBS, GOLD, 1.0) == pytest.approx(0.9)
    assert choose_abstain_threshold(PROBS, GOLD, 0.75) == pytest.approx(0.55)
    assert choose_abstain_threshold(PROBS[[2]], GOLD[[2]], 0.9) is None


def test_class_rule_reaches_its_recall_target() -> None:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 500)
    score = np.clip(0.3 * gold + rng.normal(0.35, 0.2, 500), 0, 1)
    probs = np.column_stack([1 - score, score])
    rule = DecisionRule(label="urgent", target="recall", value=0.9)
    threshold = choose_class_threshold(probs[:, 1], gold == 1, rule)
    outcome = class_rule_outcome(probs, gold, 1, threshold)
    assert outcome["recall"] >= 0.9
    assert threshold < 0.5  # reaching 90% recall needs a lower bar than the argmax
    strict = DecisionRule(label="urgent", target="precision", value=0.9)
    precise = class_rule_outcome(
        probs, gold, 1, choose_class_threshold(probs[:, 1], gold == 1, strict)
    )
    assert precise["precision"] >= 0.9 and precise["recall"] < outcome["recall"]
    assert (apply_class_rule(probs, 1, threshold) == 1).mean() == outcome["flagged_share"]
