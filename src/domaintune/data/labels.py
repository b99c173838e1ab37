"""Labels: name them, map them, and check that every class can be learnt and evaluated."""

from __future__ import annotations

import math

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName
from domaintune.errors import UserError


def label_name(value: object) -> str | None:
    """A raw label as a name: `5.0` and `5` both become "5"; missing values become None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list | dict):
        return None
    name = str(value).strip()
    return name or None


def map_labels(
    frame: pd.DataFrame, *, mapping: dict[str, str], examples: int
) -> tuple[pd.DataFrame, list[Step]]:
    """Drop rows without a label, then apply the configured mapping (dropping unmapped labels)."""
    names = frame["label"].map(label_name)
    missing = names.isna()
    steps = [
        Step(
            StepName.MISSING_LABEL,
            "dropped rows without a label",
            len(frame),
            int((~missing).sum()),
            examples=frame[missing].head(examples).to_dict("records"),
        )
    ]
    frame = frame[~missing].assign(label=names[~missing])
    if mapping:
        mapped = frame["label"].map({str(k): v for k, v in mapping.items()})
        unmapped = mapped.isna()
        unmapped_labels = sorted(frame.loc[unmapped, "label"].unique())
        steps.append(
            Step(
                StepName.MAP_LABELS,
                "mapped raw labels to names with data.label_mapping; dropped labels it does not list"
                + (f" ({', '.join(unmapped_labels[:10])})" if unmapped_labels else ""),
                len(frame),
                int((~unmapped).sum()),
                changed=int((~unmapped).sum()),
                examples=frame[unmapped].head(examples).to_dict("records"),
            )
        )
        frame = frame[~unmapped].assign(label=mapped[~unmapped])
    return frame, steps


def check_classes(frame: pd.DataFrame, prepare: PrepareConfig, *, source: str) -> None:
    """Refuse data that cannot make a classifier: one class, or a class too small to split."""
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        only = f"only the class '{counts.index[0]}'" if len(counts) else "no labelled rows"
        raise UserError(
            f"{source} has {only} after cleaning: a classifier needs at least two classes"
        )
    small = counts[counts < prepare.min_rows_per_class]
    if not small.empty:
        name, count = small.index[-1], int(small.iloc[-1])
        raise UserError(
            f"{source}: class '{name}' has only {count} row(s) after cleaning, and each class needs "
            f"{prepare.min_rows_per_class} to be split into train, validation and test: add rows, "
            "merge it into another class with data.label_mapping, or lower prepare.min_rows_per_class"
        )


def check_split_classes(
    splits: dict[str, pd.DataFrame], made: dict[str, str], *, source: str
) -> list[str]:
    """Refuse a class no training row teaches; warn of a class a held-out split the user gave
    lacks (its scores there cannot be measured), which prepare must not fix by moving rows."""
    train = set(splits["train"]["label"])
    every = set().union(*(set(part["label"]) for part in splits.values()))
    untaught = sorted(every - train)
    if untaught:
        where = {name: int((part["label"] == untaught[0]).sum()) for name, part in splits.items()}
        raise UserError(
            f"{source}: class '{untaught[0]}' has no training rows after cleaning (validation "
            f"{where['validation']}, test {where['test']}), so no model can learn it: add "
            "training rows of it, or merge it into another class with data.label_mapping"
        )
    return [
        f"class '{label}' has no rows in the {name} split you gave: its {name} scores cannot be "
        "measured"
        for name in ("validation", "test")
        if made.get(name) == "given"
        for label in sorted(train - set(splits[name]["label"]))
    ]
