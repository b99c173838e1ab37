"""Split into train, validation and test: stratified by class (by label for multi_label) and
seeded, so it is repeatable; or by time; or as the user split the data, carving from train only
the splits it lacks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pandas.api.types import is_float_dtype
from sklearn.model_selection import train_test_split

from domaintune.config import PrepareConfig
from domaintune.data.given import GIVEN
from domaintune.errors import UserError

SPLITS = ("train", "validation", "test")


VALUE_BINS = 10
"""A numeric target (regression) is stratified by its deciles."""
ROWS_PER_BIN = 10
"""...with fewer bins where there are too few rows to fill ten with this many."""


def strata(labels: pd.Series) -> pd.Series | None:
    """What a random split is stratified by: the class; for a numeric target (regression), its
    quantile bin, so each split spans the whole range; None where too few rows to stratify."""
    if not is_float_dtype(labels):
        return labels
    bins = min(VALUE_BINS, len(labels) // ROWS_PER_BIN)
    if bins < 2:
        return None
    ranks = labels.rank(method="first")  # ties (a rating of 4) spread over neighbouring bins
    return pd.qcut(ranks, bins, labels=False)


def split(
    frame: pd.DataFrame, prepare: PrepareConfig, *, stratify: bool = True
) -> dict[str, pd.DataFrame]:
    """Three disjoint parts, each with the class mix (the spread of values) of the whole;
    without `stratify` (a target that is text) at random alone."""
    held_out = prepare.validation_size + prepare.test_size
    train, rest = train_test_split(
        frame,
        test_size=held_out,
        stratify=strata(frame["label"]) if stratify else None,
        random_state=prepare.seed,
    )
    validation, test = train_test_split(
        rest,
        test_size=prepare.test_size / held_out,
        stratify=strata(rest["label"]) if stratify else None,
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
    held_out = prepare.validation_size + prepare.test_size
    proportions = [1 - held_out, prepare.validation_size, prepare.test_size]
    part = iterative_assignment(label_matrix(frame), proportions, seed=prepare.seed)
    return {
        name: frame[part == i].reset_index(drop=True)
        for i, name in enumerate(("train", "validation", "test"))
    }


def label_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The (rows, labels) boolean matrix of the frame's label sets, labels in sorted order."""
    labels = sorted({label for labels in frame["label"] for label in labels})
    index = {label: i for i, label in enumerate(labels)}
    members = np.zeros((len(frame), len(labels)), dtype=bool)
    for row, row_labels in enumerate(frame["label"]):
        members[row, [index[label] for label in row_labels]] = True
    return members


def resolve_split(
    prepare: PrepareConfig, frame: pd.DataFrame, *, classification: bool, given: bool
) -> PrepareConfig:
    """`prepare` with split auto made random, or cross_validation where the rows are too few to
    test on a split (see PrepareConfig.split): single-label classification without the user's
    own splits, whose smallest class is below min_rows_per_class or whose test split would hold
    fewer than cross_validate_below_test_rows."""
    if prepare.split != "auto":
        return prepare
    small = (
        classification
        and not given
        and (
            int(frame["label"].value_counts().min()) < prepare.min_rows_per_class
            or math.ceil(prepare.test_size * len(frame)) < prepare.cross_validate_below_test_rows
        )
    )
    return prepare.model_copy(update={"split": "cross_validation" if small else "random"})


def make_splits(
    frame: pd.DataFrame,
    prepare: PrepareConfig,
    *,
    times: np.ndarray | None,
    multi_label: bool = False,
    stratify: bool = True,
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The three splits, and how each held-out one was made: "given", "random" or "time".

    Rows carry `row`, their position in `times`. With a GIVEN column the user's splits are kept
    and a missing validation or test split is carved from train (its size a share of the
    training rows); without one, prepare.split decides, its sizes a share of all rows. Rows of
    label sets (`multi_label`) are stratified by label, iteratively; a time split ignores labels.
    """
    if prepare.split == "cross_validation":  # every row trains; evaluate makes the folds
        made = {"validation": "cross_validation", "test": "cross_validation"}
        empty = frame.iloc[:0]
        return {"train": frame.reset_index(drop=True), "validation": empty, "test": empty}, made
    if GIVEN not in frame and prepare.split == "random":
        made = {"validation": "random", "test": "random"}
        if multi_label:
            return split_label_sets(frame, prepare), made
        return split(frame, prepare, stratify=stratify), made
    if GIVEN in frame:
        parts = {name: frame[frame[GIVEN] == name] for name in SPLITS}
    else:
        parts = {"train": frame, "validation": frame.iloc[:0], "test": frame.iloc[:0]}
    made = {name: "given" for name in ("validation", "test") if len(parts[name])}
    base = len(parts["train"])
    for name, size in (("test", prepare.test_size), ("validation", prepare.validation_size)):
        if name not in made:
            parts["train"], parts[name] = carve(
                parts["train"],
                math.ceil(size * base),
                prepare,
                times=times,
                name=name,
                multi_label=multi_label,
                stratify=stratify,
            )
            made[name] = "time" if prepare.split == "time" else "random"
    splits = {name: parts[name].reset_index(drop=True) for name in SPLITS}
    return splits, {name: made[name] for name in ("validation", "test")}


def carve(
    frame: pd.DataFrame,
    count: int,
    prepare: PrepareConfig,
    *,
    times: np.ndarray | None,
    name: str,
    multi_label: bool = False,
    stratify: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`count` rows of `frame` for a held-out split: the latest by time, or stratified at random
    (at random alone when a class is too small to stratify; label sets iteratively, by label).
    Returns the rest and those rows."""
    if count >= len(frame):
        raise UserError(
            f"only {len(frame)} training rows are left to carve a {name} split of {count} from: "
            f"give more training rows, or give the {name} split yourself"
        )
    if prepare.split == "time" and times is not None:
        order = np.argsort(times[frame["row"].to_numpy()], kind="stable")
        return frame.iloc[order[:-count]], frame.iloc[order[-count:]]
    if multi_label:
        share = count / len(frame)
        part = iterative_assignment(label_matrix(frame), [1 - share, share], seed=prepare.seed)
        return frame[part == 0], frame[part == 1]
    labels = strata(frame["label"]) if stratify else None
    can_stratify = (
        labels is not None
        and labels.value_counts().min() >= 2
        and min(count, len(frame) - count) >= labels.nunique()
    )
    stratify = labels if can_stratify else None
    rest, carved = train_test_split(
        frame, test_size=count, stratify=stratify, random_state=prepare.seed
    )
    return rest, carved
