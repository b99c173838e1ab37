"""regression in prepare: numbers read from the label column, checked, split by their spread."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaintune.config import build_config
from domaintune.data.dedup import drop_duplicates
from domaintune.data.labels import check_values, label_value, map_values
from domaintune.data.prepare import prepare_data
from domaintune.errors import UserError
from tests.helpers import write_rated_reviews


@pytest.mark.parametrize(
    ("raw", "value"),
    [(4, 4.0), (np.int64(2), 2.0), (3.5, 3.5), (" 4 ", 4.0), ("-1.25", -1.25), ("3,5", 3.5),
     ("1e3", 1000.0), (None, None), (math.nan, None), ("", None), ("  ", None)],
)  # fmt: skip
def test_a_target_is_read_as_a_number_or_missing(raw: object, value: float | None) -> None:
    assert label_value(raw) == value


@pytest.mark.parametrize("raw", ["five", "4 stars", "1,000,5", "inf", "nan", [4], True])
def test_what_is_not_a_finite_number_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        label_value(raw)


def test_text_in_a_numeric_target_names_its_row() -> None:
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["4", None, "four"]})
    with pytest.raises(UserError, match=r"reviews.csv: row 3 has 'four' in stars, which is not"):
        map_values(frame, source="reviews.csv", label_column="stars", examples=2)


def test_rows_without_a_value_are_dropped_and_counted() -> None:
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["4", "", 2]})
    kept, [step] = map_values(frame, source="f", label_column="label", examples=2)
    assert kept["label"].tolist() == [4.0, 2.0] and kept["label"].dtype == np.float64
    assert (step.rows_before, step.rows_after) == (3, 2)


def test_a_constant_or_too_small_target_is_refused() -> None:
    prepare = build_config({}).prepare
    constant = pd.DataFrame({"label": [3.0] * 200})
    with pytest.raises(UserError, match="only the value 3 after cleaning"):
        check_values(constant, prepare, source="f")
    few = pd.DataFrame({"label": np.arange(60, dtype=float)})
    with pytest.raises(UserError, match="60 rows with a value after cleaning; 100 are needed"):
        check_values(few, prepare, source="f")


def test_conflicting_values_of_one_text_become_their_median() -> None:
    frame = pd.DataFrame({"text": ["slow", "Slow", "slow", "fast"], "label": [1.0, 2.0, 4.0, 5.0]})
    kept, steps = drop_duplicates(frame, build_config({}).prepare, examples=2)
    assert kept.set_index("text")["label"].to_dict() == {"slow": 2.0, "fast": 5.0}
    assert "median" in steps[0].description


def test_prepare_splits_every_range_of_values_and_records_them(tmp_path: Path) -> None:
    data = write_rated_reviews(tmp_path, count=400)
    config = build_config({}, [f"data.source={data}", "task.objective=regression"])
    prepared = prepare_data(config)
    card = prepared.card
    assert card.objective == "regression" and card.labels == ["label"]
    assert config.prepare.balance == "none"
    assert card.step("label_audit") is None and card.step("balance") is None
    for name, part in prepared.splits.items():
        assert part["label"].dtype == np.float64
        assert set(part["label"]) == {1.0, 2.0, 3.0, 4.0, 5.0}, name  # stratified by value
        summary = card.targets[name]
        assert summary.rows == len(part) and summary.whole_numbers
        assert summary.mean == pytest.approx(part["label"].mean(), abs=1e-4)
    assert card.splits == {"train": {}, "validation": {}, "test": {}}


def test_settings_that_judge_classes_are_refused_for_regression() -> None:
    regression = ["task.objective=regression"]
    for setting in ("prepare.balance=undersample", "prepare.label_audit=flag"):
        with pytest.raises(UserError, match="works on classes"):
            build_config({}, [*regression, setting])
    with pytest.raises(UserError, match="label_mapping maps label names"):
        build_config({"data": {"label_mapping": {"5": "good"}}}, regression)
    with pytest.raises(UserError, match="chunks is not supported"):
        build_config({}, [*regression, "model.long_text=chunks"])
