from __future__ import annotations

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.leakage import leaking_pairs, remove_leakage
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
