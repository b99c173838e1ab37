from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import build_config
from domaintune.data.given import read_rows
from domaintune.errors import UserError
from tests.helpers import make_rows


def config_for(path: Path, **data: str):
    return build_config({"data": {"source": str(path), **data}})


def test_split_names_are_read_in_any_case_and_common_spellings(tmp_path: Path) -> None:
    frame = make_rows(8).assign(
        part=["Train", " TEST", "dev", "val", "valid", "training", "test", "Validation"]
    )
    frame.to_csv(tmp_path / "data.csv", index=False)
    rows = read_rows(config_for(tmp_path / "data.csv", split_column="part"))
    assert rows.method == "split_column"
    assert rows.frame["split"].tolist() == [
        "train",
        "test",
        "validation",
        "validation",
        "validation",
        "train",
        "test",
        "validation",
    ]
    assert list(rows.frame.columns) == ["text", "label", "split"]  # the column is no feature


@pytest.mark.parametrize(
    ("value", "said"),
    [("holdout", "holds 'holdout', not a split"), ("", "is empty")],
)
def test_an_unknown_split_value_names_the_file_row_and_value(
    tmp_path: Path, value: str, said: str
) -> None:
    frame = make_rows(6).assign(part=["train", "test", "train", value, "train", "holdout"])
    frame.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(UserError) as error:
        read_rows(config_for(tmp_path / "data.csv", split_column="part"))
    message = str(error.value)
    assert f"data.csv, row 4, column 'part' {said}" in message
    assert "write train, validation or test" in message and "\n" not in message


def test_times_in_mixed_formats_are_read_as_one_clock(tmp_path: Path) -> None:
    dates = [
        "2024-03-15",
        "16 March 2024",
        "2024-03-17T14:30:00Z",
        "03/18/2024",
        "2024-03-19 09:00+02:00",
    ]
    make_rows(5).assign(date=dates).to_csv(tmp_path / "data.csv", index=False)
    config = build_config(
        {"data": {"source": str(tmp_path / "data.csv"), "time_column": "date"}},
        ["prepare.split=time"],
    )
    rows = read_rows(config)
    assert rows.method == "time"
    assert [t.isoformat() for t in rows.times] == [
        "2024-03-15T00:00:00+00:00",
        "2024-03-16T00:00:00+00:00",
        "2024-03-17T14:30:00+00:00",
        "2024-03-18T00:00:00+00:00",
        "2024-03-19T07:00:00+00:00",
    ]
    day_first = build_config(config.model_dump(), ["prepare.date_order=DMY"])
    assert read_rows(day_first).times.iloc[3].isoformat() == "2024-03-18T00:00:00+00:00"
    make_rows(1).assign(date=["04/03/2024"]).to_csv(tmp_path / "one.csv", index=False)
    day_first.data.source = str(tmp_path / "one.csv")
    assert read_rows(day_first).times.iloc[0].month == 3


def test_a_time_that_does_not_parse_names_the_row_and_value(tmp_path: Path) -> None:
    dates = ["2024-03-15", "2024-03-16", "last tuesday", "2024-02-30", ""]
    make_rows(5).assign(date=dates).to_csv(tmp_path / "data.csv", index=False)
    config = build_config(
        {"data": {"source": str(tmp_path / "data.csv"), "time_column": "date"}},
        ["prepare.split=time"],
    )
    with pytest.raises(UserError) as error:
        read_rows(config)
    message = str(error.value)
    assert "data.csv, row 3, column 'date' holds 'last tuesday', not a date (2 more rows" in message
    assert "2024-03-15" in message and "\n" not in message


def test_separate_files_are_read_with_their_split_and_named_in_errors(tmp_path: Path) -> None:
    rows = make_rows(9)
    rows.iloc[:6].to_csv(tmp_path / "train.csv", index=False)
    rows.iloc[6:].assign(label=["positive", None, "negative"]).to_csv(
        tmp_path / "test.csv", index=False
    )
    config = build_config(
        {"data": {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}}
    )
    read = read_rows(config)
    assert read.method == "files" and config.data.source == str(tmp_path / "train.csv")
    assert read.frame["split"].tolist() == ["train"] * 6 + ["test"] * 3
    assert read.frame["text"].tolist() == rows["text"].tolist()
    pd.DataFrame({"words": ["a"], "label": ["b"]}).to_csv(tmp_path / "bad.csv", index=False)
    config.data.test = str(tmp_path / "bad.csv")
    with pytest.raises(UserError, match=r"bad.csv has no column 'text' \(its columns: words"):
        read_rows(config)
