"""Split into train, validation and test: stratified by class and seeded, so it is repeatable; or
by time; or as the user split the data, carving from train only the splits it lacks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from domaintune.config import PrepareConfig
from domaintune.data.given import GIVEN
from domaintune.errors import UserError

SPLITS = ("train", "validation", "test")


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


def make_splits(
    frame: pd.DataFrame, prepare: PrepareConfig, *, times: np.ndarray | None
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The three splits, and how each held-out one was made: "given", "random" or "time".

    Rows carry `row`, their position in `times`. With a GIVEN column the user's splits are kept
    and a missing validation or test split is carved from train (its size a share of the
    training rows); without one, prepare.split decides, its sizes a share of all rows.
    """
    if GIVEN not in frame and prepare.split == "random":
        return split(frame, prepare), {"validation": "random", "test": "random"}
    if GIVEN in frame:
        parts = {name: frame[frame[GIVEN] == name] for name in SPLITS}
    else:
        parts = {"train": frame, "validation": frame.iloc[:0], "test": frame.iloc[:0]}
    made = {name: "given" for name in ("validation", "test") if len(parts[name])}
    base = len(parts["train"])
    for name, size in (("test", prepare.test_size), ("validation", prepare.validation_size)):
        if name not in made:
            parts["train"], parts[name] = carve(
                parts["train"], math.ceil(size * base), prepare, times=times, name=name
            )
            made[name] = prepare.split
    splits = {name: parts[name].reset_index(drop=True) for name in SPLITS}
    return splits, {name: made[name] for name in ("validation", "test")}


def carve(
    frame: pd.DataFrame, count: int, prepare: PrepareConfig, *, times: np.ndarray | None, name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`count` rows of `frame` for a held-out split: the latest by time, or stratified at random
    (at random alone when a class is too small to stratify). Returns the rest and those rows."""
    if count >= len(frame):
        raise UserError(
            f"only {len(frame)} training rows are left to carve a {name} split of {count} from: "
            f"give more training rows, or give the {name} split yourself"
        )
    if prepare.split == "time" and times is not None:
        order = np.argsort(times[frame["row"].to_numpy()], kind="stable")
        return frame.iloc[order[:-count]], frame.iloc[order[-count:]]
    labels = frame["label"]
    classes = labels.nunique()
    can_stratify = labels.value_counts().min() >= 2 and min(count, len(frame) - count) >= classes
    stratify = labels if can_stratify else None
    rest, carved = train_test_split(
        frame, test_size=count, stratify=stratify, random_state=prepare.seed
    )
    return rest, carved
