"""Leakage: no validation or test row may repeat, or nearly repeat, a training row.

Rows carry the near-duplicate group found before the split; a held-out row whose group also has a
training row is moved to train or dropped. The result is then checked afresh from the MinHash
signatures of the final splits, so the card reports what is true, not what was intended.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName
from domaintune.data.minhash import similar_pairs

HELD_OUT = ("validation", "test")


def remove_leakage(
    splits: dict[str, pd.DataFrame], prepare: PrepareConfig, *, examples: int
) -> tuple[dict[str, pd.DataFrame], Step]:
    """Move (or drop) held-out rows whose near-duplicate group reaches into train."""
    train_groups = set(splits["train"]["group"])
    moved, shown = [], []
    kept = dict(splits)
    for name in HELD_OUT:
        part = splits[name]
        leaks = part["group"].isin(train_groups)
        moved.append(part[leaks])
        kept[name] = part[~leaks].reset_index(drop=True)
        shown += [{"split": name, "text": text} for text in part.loc[leaks, "text"].head(examples)]
    leaked = pd.concat(moved)
    if prepare.leakage == "move":
        kept["train"] = pd.concat([splits["train"], leaked], ignore_index=True)
    before = sum(len(part) for part in splits.values())
    step = Step(
        StepName.LEAKAGE,
        f"{'moved to train' if prepare.leakage == 'move' else 'dropped'} validation and test rows "
        "that duplicate or near-duplicate a training row",
        before,
        sum(len(part) for part in kept.values()),
        changed=len(leaked),
        examples=shown[:examples],
    )
    return kept, step


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
