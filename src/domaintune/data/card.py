"""The data card's vocabulary: one record per preparation step, with counts and examples."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Step:
    """What one preparation step did: rows in and out, rows changed, and a few examples."""

    name: str
    description: str
    rows_before: int
    rows_after: int
    changed: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return self.rows_before - self.rows_after

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "removed": self.removed}


def class_counts(labels: pd.Series) -> dict[str, int]:
    """Counts per class, largest first, as plain ints for JSON."""
    return {str(k): int(v) for k, v in labels.value_counts().items()}


def length_summary(texts: pd.Series) -> dict[str, float]:
    """Characters and words per text: the figures the report and max-length choice rely on."""
    chars = texts.str.len()
    words = texts.str.split().str.len()
    summary: dict[str, float] = {}
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
