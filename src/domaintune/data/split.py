"""Split into train, validation and test: stratified by class (by label for multi_label) and
seeded, so it is repeatable."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from domaintune.config import PrepareConfig


def split(frame: pd.DataFrame, prepare: PrepareConfig) -> dict[str, pd.DataFrame]:
    """Three disjoint parts, each with the class mix of the whole."""
    held_out = prepare.validation_size + prepare.test_size
    train, rest = train_test_split(
        frame, test_size=held_out, stratify=frame["label"], random_state=prepare.seed
    )
    validation, test = train_test_split(
        rest,
        test_size=prepare.test_size / held_out,
        stratify=rest["label"],
        random_state=prepare.seed,
    )
    return {
        name: part.reset_index(drop=True)
        for name, part in (("train", train), ("validation", validation), ("test", test))
    }


def iterative_assignment(members: np.ndarray, proportions: list[float], *, seed: int) -> np.ndarray:
    """Each row's part (an index into `proportions`), by iterative stratification (Sechidis,
    Tsoumakas and Vlahavas, 2011): the rarest label's rows are placed first, each in the part
    that still wants most of that label, so every label is spread as `proportions` says.

    `members` is a (rows, labels) boolean matrix. The algorithm scikit-multilearn and
    iterative-stratification implement, written out (30 lines) rather than a dependency for it.
    """
    rng = np.random.default_rng(seed)
    shares = np.asarray(proportions, dtype=float)
    wanted_rows = shares * len(members)
    wanted = shares[:, None] * members.sum(axis=0)[None, :]
    part = np.full(len(members), -1)
    left = members.copy()
    while (remaining := left.sum(axis=0)).any():
        label = int(np.argmin(np.where(remaining > 0, remaining, np.iinfo(np.int64).max)))
        for row in rng.permutation(np.flatnonzero(left[:, label])):
            want = wanted[:, label]
            best = np.flatnonzero(want == want.max())
            if len(best) > 1:
                best = best[wanted_rows[best] == wanted_rows[best].max()]
            chosen = int(rng.choice(best))
            part[row] = chosen
            wanted[chosen] -= members[row]
            wanted_rows[chosen] -= 1
            left[row] = False
    return part


def split_label_sets(frame: pd.DataFrame, prepare: PrepareConfig) -> dict[str, pd.DataFrame]:
    """`split` for multi_label rows: three disjoint parts, each label spread over them in the
    configured shares by iterative stratification (`iterative_assignment`)."""
    labels = sorted({label for labels in frame["label"] for label in labels})
    index = {label: i for i, label in enumerate(labels)}
    members = np.zeros((len(frame), len(labels)), dtype=bool)
    for row, row_labels in enumerate(frame["label"]):
        members[row, [index[label] for label in row_labels]] = True
    held_out = prepare.validation_size + prepare.test_size
    proportions = [1 - held_out, prepare.validation_size, prepare.test_size]
    part = iterative_assignment(members, proportions, seed=prepare.seed)
    return {
        name: frame[part == i].reset_index(drop=True)
        for i, name in enumerate(("train", "validation", "test"))
    }
