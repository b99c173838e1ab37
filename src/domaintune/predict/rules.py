"""The run's decision rules, applied to each prediction as evaluate measured them on test.

evaluate chooses the rules on the validation split (`evaluate.decision`, a class rule, and
`evaluate.abstain_target_accuracy`) and saves them as model/decision.json. Each text then gets:
- `class_rule`: the rule's label, whenever its probability reaches the rule's threshold, even when
  another label is more probable (the rule exists to catch that label, e.g. urgent messages);
  below the threshold the rule's label is never given, as evaluate scored the rule;
- `abstain`: otherwise, when the top probability is below the abstain threshold: send the text to
  a person (the label column still holds the model's best guess);
- `model`: otherwise, the most probable label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.errors import UserError
from domaintune.runfiles import DecisionRules

RULES_FILE = "decision.json"
DECISIONS = ("model", "class_rule", "abstain")


def load_rules(folder: Path) -> DecisionRules:
    """The model folder's rules; none when evaluate has not written any."""
    path = folder / RULES_FILE
    return DecisionRules.read(path) if path.is_file() else DecisionRules()


def apply_class_rule(probs: np.ndarray, *, label_index: int, threshold: float) -> np.ndarray:
    """Label ids: the rule's label when its probability passes, else the most probable other."""
    others = probs.copy()
    others[:, label_index] = -np.inf
    return np.where(probs[:, label_index] >= threshold, label_index, others.argmax(axis=1))


def decide(probs: np.ndarray, labels: list[str], rules: DecisionRules) -> pd.DataFrame:
    """One row per text: the label, the top probability, which rule decided, and a probability
    per label (`p_<label>`)."""
    predicted = probs.argmax(axis=1)
    decision = np.full(len(probs), "model", dtype=object)
    if rules.class_rule is not None:
        if rules.class_rule.label not in labels:
            raise UserError(
                f"{RULES_FILE}: the class rule's label '{rules.class_rule.label}' is not one the "
                f"model predicts ({', '.join(labels)}): run `domaintune evaluate` again"
            )
        index = labels.index(rules.class_rule.label)
        threshold = rules.class_rule.threshold
        predicted = apply_class_rule(probs, label_index=index, threshold=threshold)
        decision[probs[:, index] >= threshold] = "class_rule"
    confidence = probs.max(axis=1)
    if rules.abstain_below is not None:
        decision[(decision == "model") & (confidence < rules.abstain_below)] = "abstain"
    table = pd.DataFrame(
        {
            "label": np.asarray(labels, dtype=object)[predicted],
            "confidence": confidence.round(6),
            "decision": decision,
        }
    )
    for index, label in enumerate(labels):
        table[f"p_{label}"] = probs[:, index].round(6)
    return table


def decide_sets(probs: np.ndarray, labels: list[str], thresholds: np.ndarray) -> pd.DataFrame:
    """multi_label: one row per text, `labels` (every label whose probability reaches its
    threshold, in the model's order; possibly none) and a probability per label (`p_<label>`)."""
    names = np.asarray(labels, dtype=object)
    table = pd.DataFrame({"labels": [names[row].tolist() for row in probs >= thresholds]})
    for index, label in enumerate(labels):
        table[f"p_{label}"] = probs[:, index].round(6)
    return table
