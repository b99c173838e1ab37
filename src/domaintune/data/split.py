"""Split into train, validation and test: stratified by class and seeded, so it is repeatable."""

from __future__ import annotations

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
