"""Leakage: no validation or test row may repeat, or nearly repeat, a training row.

Rows carry the near-duplicate group found before the split. A held-out row prepare split off at
random whose group also has a training row is moved to train or dropped; a held-out split that
must stay as it is (the user's, or one cut by time) keeps its rows, and the training rows of
their groups are dropped instead. The result is then checked afresh from the MinHash signatures
of the final splits, so the card reports what is true, not what was intended.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName
from domaintune.data.minhash import similar_pairs

HELD_OUT = ("validation", "test")
KEPT_AS_MADE = {"given": "you gave", "time": "cut by time"}
"""How a held-out split was made, for those never changed, as the card says it."""


def remove_leakage(
    splits: dict[str, pd.DataFrame],
    prepare: PrepareConfig,
    *,
    examples: int,
    made: Mapping[str, str] | None = None,
) -> tuple[dict[str, pd.DataFrame], Step]:
    """Move (or drop) held-out rows whose near-duplicate group reaches into train; for a split
    `made` "given" or "time", drop the group's training rows instead."""
    made = made or {}
    fixed = [name for name in HELD_OUT if made.get(name) in KEPT_AS_MADE]
    train_groups = set(splits["train"]["group"])
    moved, shown, did = [], [], []
    kept = dict(splits)
    for name in HELD_OUT:
        if name in fixed:
            continue
        part = splits[name]
        leaks = part["group"].isin(train_groups)
        moved.append(part[leaks])
        kept[name] = part[~leaks].reset_index(drop=True)
        shown += [{"split": name, "text": text} for text in part.loc[leaks, "text"].head(examples)]
    leaked = pd.concat(moved) if moved else splits["train"].iloc[:0]
    if moved:
        verb = "moved to train" if prepare.leakage == "move" else "dropped"
        did.append(
            f"{verb} {' and '.join(n for n in HELD_OUT if n not in fixed)} rows that duplicate "
            "or near-duplicate a training row"
        )
    if prepare.leakage == "move":
        kept["train"] = pd.concat([splits["train"], leaked], ignore_index=True)
    copies = 0
    for name in fixed:
        in_train = kept["train"]["group"].isin(set(kept[name]["group"]))
        shown += [{"split": "train", "text": text} for text in kept["train"]["text"][in_train]]
        kept["train"] = kept["train"][~in_train].reset_index(drop=True)
        copies += int(in_train.sum())
        did.append(
            f"dropped training rows that near-duplicate a row of the {name} split "
            f"{KEPT_AS_MADE[made[name]]} (its rows are never moved)"
        )
    before = sum(len(part) for part in splits.values())
    step = Step(
        StepName.LEAKAGE,
        "; ".join(did),
        before,
        sum(len(part) for part in kept.values()),
        changed=len(leaked) + copies,
        examples=shown[:examples],
    )
    return kept, step


def near_training_rows(splits: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Rows of each held-out split whose near-duplicate group has a training row."""
    train_groups = set(splits["train"]["group"])
    return {name: int(splits[name]["group"].isin(train_groups).sum()) for name in HELD_OUT}


def leaking_pairs(
    splits: dict[str, pd.DataFrame], signature: np.ndarray, *, threshold: float
) -> dict[str, int]:
    """Near-duplicate pairs between train and each held-out split, found afresh."""
    rows = {name: part["row"].to_numpy() for name, part in splits.items()}
    counts = {}
    for name in HELD_OUT:
        pair_rows = np.concatenate([rows["train"], rows[name]])
        first, other = similar_pairs(signature[pair_rows], threshold=threshold)
        is_train = np.arange(len(pair_rows)) < len(rows["train"])
        counts[f"train_{name}"] = int((is_train[first] != is_train[other]).sum())
    return counts
