"""Decision support: turning probabilities into actions, with thresholds chosen on validation.

Two kinds of rule, both optional and both fixed on the validation split before the test split is
looked at: abstain (send a text to a person) when the top probability is below a threshold chosen
to reach a target accuracy on the texts the model keeps; and a class rule that picks one label
whenever its probability passes a threshold chosen to reach a target recall or precision for it.
The abstain table is always computed: coverage and accuracy at a few fixed thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from domaintune.config import DecisionRule
from domaintune.predict.rules import apply_class_rule


def abstain_outcome(probs: np.ndarray, gold: np.ndarray, *, threshold: float) -> dict[str, float]:
    """Keep texts whose top probability is at least `threshold`; what that gives on these rows."""
    kept = probs.max(axis=1) >= threshold
    correct = probs.argmax(axis=1) == gold
    coverage = float(kept.mean())
    accuracy = float(correct[kept].mean()) if kept.any() else 1.0
    return {
        "threshold": float(threshold),
        "coverage": coverage,
        "accuracy": accuracy,
        "error_rate": 1 - accuracy,
        "wrong_per_1000": 1000 * float((kept & ~correct).mean()),
        "to_human_per_1000": 1000 * (1 - coverage),
    }


def abstain_table(probs: np.ndarray, gold: np.ndarray, *, thresholds: list[float]) -> list[dict]:
    return [abstain_outcome(probs, gold, threshold=t) for t in [0.0, *sorted(thresholds)]]


def choose_abstain_threshold(
    probs: np.ndarray, gold: np.ndarray, *, target_accuracy: float
) -> float | None:
    """The lowest threshold (most texts kept) whose kept texts reach the target accuracy.

    None when even the single most confident text misses it.
    """
    confidence = probs.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    correct = (probs.argmax(axis=1) == gold)[order]
    running = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    # a threshold keeps every row at least as confident, so only cut after the last of a tie
    sorted_confidence = confidence[order]
    cut_ends = np.r_[sorted_confidence[1:] < sorted_confidence[:-1], True]
    reaching = np.flatnonzero((running >= target_accuracy) & cut_ends)
    return float(sorted_confidence[reaching[-1]]) if len(reaching) else None


def choose_class_threshold(
    scores: np.ndarray, is_label: np.ndarray, rule: DecisionRule
) -> float | None:
    """The threshold on one label's probability that meets the rule on these rows.

    For a recall target: the highest threshold that still reaches it (so precision is kept up).
    For a precision target: the lowest threshold that reaches it (so recall is kept up).
    None when no threshold reaches the target.
    """
    precision, recall, thresholds = precision_recall_curve(is_label, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if rule.target == "recall":
        meeting = thresholds[recall >= rule.value]
        return float(meeting.max()) if len(meeting) else None
    meeting = thresholds[precision >= rule.value]
    return float(meeting.min()) if len(meeting) else None


def class_rule_outcome(
    probs: np.ndarray, gold: np.ndarray, *, label_index: int, threshold: float
) -> dict[str, Any]:
    """What the class rule does on these rows: recall and precision of its label, and overall."""
    predicted = apply_class_rule(probs, label_index=label_index, threshold=threshold)
    flagged = predicted == label_index
    actual = gold == label_index
    hits = int(np.sum(flagged & actual))
    return {
        "threshold": float(threshold),
        "flagged_share": float(flagged.mean()),
        "recall": hits / max(int(actual.sum()), 1),
        "precision": hits / max(int(flagged.sum()), 1),
        "accuracy": float(np.mean(predicted == gold)),
        "error_rate": float(np.mean(predicted != gold)),
        "missed_per_1000": 1000 * float(np.mean(actual & ~flagged)),
        "false_alarms_per_1000": 1000 * float(np.mean(flagged & ~actual)),
    }
