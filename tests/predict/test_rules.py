from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from domaintune.errors import UserError
from domaintune.predict.rules import RULES_FILE, decide, load_rules
from domaintune.runfiles import DecisionRules, SavedClassRule

LABELS = ["billing", "urgent", "other"]
PROBS = np.array(
    [
        [0.80, 0.15, 0.05],  # confident billing
        [0.50, 0.40, 0.10],  # urgent passes the rule's threshold though billing is likelier
        [0.40, 0.25, 0.35],  # unsure: below the abstain threshold
        [0.30, 0.60, 0.10],  # urgent, the most probable anyway
        [0.20, 0.30, 0.50],  # urgent is likelier than billing but below the rule's threshold
    ]
)


def urgent_rule(threshold: float) -> SavedClassRule:
    return SavedClassRule(label="urgent", threshold=threshold, target="recall", value=0.9)


def test_without_rules_each_text_gets_its_most_probable_label() -> None:
    table = decide(PROBS, LABELS, DecisionRules())
    assert table["label"].tolist() == ["billing", "billing", "billing", "urgent", "other"]
    assert set(table["decision"]) == {"model"}
    assert table["confidence"].tolist() == pytest.approx(PROBS.max(axis=1))
    assert table[[f"p_{label}" for label in LABELS]].to_numpy() == pytest.approx(PROBS)


def test_the_class_rule_picks_its_label_above_its_threshold_and_never_below() -> None:
    """Catches the rule ignored, applied below its threshold, or leaving its label to the argmax
    below the threshold: evaluate scored it as never giving the label there (row 4 would then
    be 'other', not 'urgent')."""
    table = decide(PROBS, LABELS, DecisionRules(class_rule=urgent_rule(0.35)))
    assert table["label"].tolist() == ["billing", "urgent", "billing", "urgent", "other"]
    assert table["decision"].tolist() == ["model", "class_rule", "model", "class_rule", "model"]
    high = decide(PROBS, LABELS, DecisionRules(class_rule=urgent_rule(0.7)))
    assert "urgent" not in set(high["label"])


def test_abstain_sends_unsure_texts_to_a_person_but_keeps_the_best_guess() -> None:
    table = decide(PROBS, LABELS, DecisionRules(abstain_below=0.45))
    assert table["decision"].tolist() == ["model", "model", "abstain", "model", "model"]
    assert table["label"][2] == "billing"


def test_a_text_caught_by_the_class_rule_is_not_also_sent_away() -> None:
    """The rule exists to catch its label; a flagged urgent text must reach the urgent queue."""
    rules = DecisionRules(abstain_below=0.55, class_rule=urgent_rule(0.35))
    table = decide(PROBS, LABELS, rules)
    assert table["decision"].tolist() == ["model", "class_rule", "abstain", "class_rule", "abstain"]


def test_a_rule_for_a_label_the_model_lacks_is_a_user_error() -> None:
    rules = DecisionRules(
        class_rule=SavedClassRule(label="refund", threshold=0.5, target="recall", value=0.9)
    )
    with pytest.raises(UserError, match="'refund' is not one the model predicts"):
        decide(PROBS, LABELS, rules)


def test_rules_round_trip_through_the_model_folder(tmp_path: Path) -> None:
    assert load_rules(tmp_path) == DecisionRules()
    rules = DecisionRules(abstain_below=0.6, class_rule=urgent_rule(0.3))
    rules.write(tmp_path / RULES_FILE)
    assert load_rules(tmp_path) == rules
