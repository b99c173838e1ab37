from __future__ import annotations

import pandas as pd
import pytest

from domaintune.config import PrepareConfig
from domaintune.data.split import make_splits, resolve_split, split
from domaintune.errors import UserError
from tests.helpers import make_rows


def test_split_is_disjoint_stratified_and_seeded() -> None:
    frame = make_rows(300)
    parts = split(frame, PrepareConfig(validation_size=0.1, test_size=0.2))
    sizes = [len(parts[name]) for name in ("train", "validation", "test")]
    assert sum(sizes) == 300 and abs(sizes[1] - 30) <= 1 and abs(sizes[2] - 60) <= 1
    texts = [set(parts[name]["text"]) for name in parts]
    assert sum(map(len, texts)) == len(set.union(*texts)) == 300
    assert all(abs(n - 20) <= 1 for n in parts["test"]["label"].value_counts())
    again = split(frame, PrepareConfig(validation_size=0.1, test_size=0.2))
    assert again["test"]["text"].tolist() == parts["test"]["text"].tolist()
    other = split(frame, PrepareConfig(validation_size=0.1, test_size=0.2, seed=7))
    assert other["test"]["text"].tolist() != parts["test"]["text"].tolist()


def test_given_splits_are_kept_and_a_missing_validation_is_carved_from_train() -> None:
    frame = make_rows(300).assign(row=range(300))
    frame["split"] = ["test" if i % 4 == 0 else "train" for i in range(300)]
    parts, made = make_splits(frame, PrepareConfig(validation_size=0.1), times=None)
    assert made == {"validation": "random", "test": "given"}
    assert parts["test"]["row"].tolist() == list(range(0, 300, 4))
    assert len(parts["validation"]) == 23 and len(parts["train"]) == 202  # 10% of 225 train rows
    assert set(parts["validation"]["row"]).isdisjoint(parts["train"]["row"])
    assert parts["validation"]["label"].value_counts().max() <= 8  # stratified: 23 over 3 classes


def test_a_time_split_puts_the_latest_rows_in_test_and_the_next_in_validation() -> None:
    frame = make_rows(100).assign(row=range(100))
    times = pd.date_range("2024-01-01", periods=100, freq="D", tz="UTC").to_numpy()[::-1]
    prepare = PrepareConfig(split="time", validation_size=0.1, test_size=0.2)
    parts, made = make_splits(frame, prepare, times=times)
    assert made == {"validation": "time", "test": "time"}
    assert sorted(parts["test"]["row"]) == list(range(20))  # rows are newest first
    assert sorted(parts["validation"]["row"]) == list(range(20, 30))
    assert sorted(parts["train"]["row"]) == list(range(30, 100))


def test_a_class_too_small_to_stratify_is_carved_at_random_not_refused() -> None:
    frame = make_rows(60).assign(row=range(60), split="train")
    frame.loc[0, "label"] = "rare"
    parts, _ = make_splits(frame, PrepareConfig(), times=None)
    assert sum(len(part) for part in parts.values()) == 60 and len(parts["test"]) == 6


def test_too_few_training_rows_to_carve_from_is_a_user_error() -> None:
    frame = make_rows(40).assign(row=range(40))
    frame["split"] = ["train"] + ["test"] * 39
    with pytest.raises(UserError, match="only 1 training rows are left to carve a validation"):
        make_splits(frame, PrepareConfig(), times=None)


@pytest.mark.parametrize(
    ("rows", "per_class_min", "expected"),
    [
        (3000, 10, "random"),  # a test split of 300 rows
        (1500, 10, "cross_validation"),  # 150 test rows: too few to tell models apart
        (3000, 9, "cross_validation"),  # a class below min_rows_per_class
    ],
)
def test_auto_cross_validates_data_too_small_to_test_on_a_split(
    rows: int, per_class_min: int, expected: str
) -> None:
    """Catches the test-rows rule applied to all rows, a small class missed, and small data
    split anyway."""
    frame = pd.DataFrame({"label": ["a"] * (rows - per_class_min) + ["b"] * per_class_min})
    resolved = resolve_split(PrepareConfig(), frame, classification=True, given=False)
    assert resolved.split == expected


def test_auto_never_cross_validates_given_splits_or_other_objectives() -> None:
    frame = pd.DataFrame({"label": ["a", "b"] * 20})
    assert resolve_split(PrepareConfig(), frame, classification=True, given=True).split == "random"
    assert (
        resolve_split(PrepareConfig(), frame, classification=False, given=False).split == "random"
    )
    chosen = PrepareConfig(split="time")
    assert resolve_split(chosen, frame, classification=True, given=False).split == "time"


def test_cross_validation_keeps_every_row_for_training() -> None:
    frame = make_rows(30).assign(row=range(30))
    parts, made = make_splits(frame, PrepareConfig(split="cross_validation"), times=None)
    assert parts["train"]["row"].tolist() == list(range(30))
    assert parts["validation"].empty and parts["test"].empty
    assert made == {"validation": "cross_validation", "test": "cross_validation"}
