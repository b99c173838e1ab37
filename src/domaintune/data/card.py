"""The data card's vocabulary: one record per preparation step, with counts and examples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from domaintune.runfiles import CardStep, TargetSummary


class StepName(str, Enum):
    """Every preparation step, by the name the card gives it: the steps are made with these, and
    inspect and the report find steps in the card by them. A member equals its name as a string."""

    READ = "read"
    MISSING_LABEL = "missing_label"
    MAP_LABELS = "map_labels"
    EMPTY_LABELS = "empty_labels"
    """multi_label: rows whose label list is empty."""
    NOT_TEXT = "not_text"
    NORMALIZE = "normalize"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    NOT_LETTERS = "not_letters"
    OTHER_LANGUAGE = "other_language"
    TYPOS = "typos"
    CROSS_SPLIT_DUPLICATES = "cross_split_duplicates"
    CONFLICTS = "conflicts"
    EXACT_DUPLICATES = "exact_duplicates"
    NEAR_DUPLICATES = "near_duplicates"
    LABELLED_TWINS = "labelled_twins"
    """data.unlabelled: texts that repeat or nearly repeat a labelled row."""
    RARE_LABELS = "rare_labels"
    """multi_label: labels too rare to split, dropped from the label sets."""
    LABEL_AUDIT = "label_audit"
    LEAKAGE = "leakage"
    AUDIT_DROP = "audit_drop"
    """prepare.label_audit drop: the likely label errors removed from the training split."""
    BALANCE = "balance"

    def __str__(self) -> str:  # as `enum.StrEnum` does, which needs Python 3.11
        return self.value


@dataclass
class Step:
    """What one preparation step did: rows in and out, rows changed, and a few examples."""

    name: StepName
    description: str
    rows_before: int
    rows_after: int
    changed: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return self.rows_before - self.rows_after

    def record(self) -> CardStep:
        """The step as the data card holds it."""
        return CardStep(**asdict(self), removed=self.removed)


def row_examples(texts: pd.Series, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Examples of rows as the card shows them: each text with its row's label, where the rows
    have labels (data.unlabelled's have none)."""
    if "label" not in rows:
        return [{"text": text} for text in texts]
    return [{"text": text, "label": label} for text, label in zip(texts, rows["label"])]


def class_counts(
    labels: pd.Series, *, counts: Callable[[pd.Series], pd.Series] = pd.Series.value_counts
) -> dict[str, int]:
    """Counts per class, largest first, as plain ints for JSON. `counts` counts them
    (`labels.label_counts` for label sets: each label of a row counts)."""
    return {str(k): int(v) for k, v in counts(labels).items()}


def set_counts(sets: pd.Series) -> dict[str, float]:
    """multi_label: labels per row (the label cardinality) and the share of rows with several."""
    sizes = sets.map(len)
    return {
        "cardinality": round(float(sizes.mean()), 3),
        "several_labels_share": round(float((sizes > 1).mean()), 3),
        "distinct_sets": int(sets.nunique()),
    }


def length_summary(texts: pd.Series) -> dict[str, float]:
    """Characters and words per text: the figures the report and max-length choice rely on."""
    chars = texts.str.len()
    words = texts.str.split().str.len()
    summary: dict[str, float] = {}
    if texts.empty:  # a split left empty: cross-validation's validation and test
        chars = words = pd.Series([0])
    for name, values in (("chars", chars), ("words", words)):
        summary[f"{name}_mean"] = round(float(values.mean()), 1)
        for q in (50, 95, 99):
            summary[f"{name}_p{q}"] = float(values.quantile(q / 100))
        summary[f"{name}_max"] = int(values.max())
    return summary


def before_after(before: pd.Series, after: pd.Series, *, examples: int) -> list[dict[str, Any]]:
    """The first `examples` texts a step changed, each as it was and as it became."""
    changed = before != after
    return [
        {"before": old, "after": new}
        for old, new in zip(before[changed].head(examples), after[changed].head(examples))
    ]


def target_summary(values: pd.Series) -> TargetSummary:
    """regression: a split's numeric target: where its values lie, how they spread."""
    numbers = values.to_numpy(dtype=float)
    p25, p50, p75 = np.percentile(numbers, [25, 50, 75])
    return TargetSummary(
        rows=len(numbers),
        mean=round(float(numbers.mean()), 4),
        std=round(float(numbers.std()), 4),
        min=float(numbers.min()),
        p25=float(p25),
        p50=float(p50),
        p75=float(p75),
        max=float(numbers.max()),
        whole_numbers=bool(np.all(numbers == np.round(numbers))),
    )
