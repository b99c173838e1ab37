from __future__ import annotations

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.leakage import leaking_pairs, near_training_rows, remove_leakage
from domaintune.data.minhash import signatures

TEXTS = [
    "my bag was lost in denver and nobody helps",
    "my bag was lost in denver and nobody helps!!",
    "great crew on the flight to boston today",
    "seat 12c has a broken tray table again",
]


def splits_with_a_leak() -> dict[str, pd.DataFrame]:
    rows = pd.DataFrame(
        {
            "text": TEXTS,
            "label": ["neg", "neg", "pos", "neu"],
            "row": range(4),
            "group": [0, 0, 1, 2],
        }
    )
    return {"train": rows.iloc[[0, 2]], "validation": rows.iloc[[3]], "test": rows.iloc[[1]]}


def test_leaking_rows_move_to_train() -> None:
    kept, step = remove_leakage(splits_with_a_leak(), PrepareConfig(), examples=5)
    assert sorted(kept["train"]["row"]) == [0, 1, 2] and kept["test"].empty
    assert step.changed == 1 and step.removed == 0 and step.examples[0]["split"] == "test"


def test_leaking_rows_can_be_dropped() -> None:
    kept, step = remove_leakage(splits_with_a_leak(), PrepareConfig(leakage="drop"), examples=5)
    assert sorted(kept["train"]["row"]) == [0, 2] and step.removed == 1


def test_leaking_pairs_are_counted_afresh_from_signatures() -> None:
    signature = signatures(TEXTS, permutations=64)
    assert leaking_pairs(splits_with_a_leak(), signature, threshold=0.7) == {
        "train_validation": 0,
        "train_test": 1,
    }
    kept, _ = remove_leakage(splits_with_a_leak(), PrepareConfig(), examples=5)
    assert leaking_pairs(kept, signature, threshold=0.7) == {"train_validation": 0, "train_test": 0}


def test_a_given_test_split_keeps_its_rows_and_loses_the_training_copies() -> None:
    """prepare.leakage move would put the test row into train: with a test split the user gave,
    the training copy is dropped instead, and the carved validation split still moves."""
    splits = splits_with_a_leak()
    splits["validation"] = pd.concat([splits["validation"], splits["train"].iloc[[1]]])
    splits["validation"].loc[:, "row"] = [3, 9]
    splits["validation"].loc[:, "group"] = [2, 1]
    kept, step = remove_leakage(
        splits, PrepareConfig(), examples=5, made={"validation": "random", "test": "given"}
    )
    assert kept["test"]["row"].tolist() == [1]
    assert sorted(kept["train"]["row"]) == [2, 9] and kept["validation"]["row"].tolist() == [3]
    assert step.removed == 1 and step.changed == 2
    assert "test split you gave (its rows are never moved)" in step.description
    assert {"split": "train", "text": TEXTS[0]} in step.examples


def test_near_training_rows_are_counted_per_held_out_split() -> None:
    assert near_training_rows(splits_with_a_leak()) == {"validation": 0, "test": 1}
