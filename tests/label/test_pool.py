"""Reading the pool and the labels file: ids, duplicates, empty pools, unknown labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from domaintune.errors import UserError
from domaintune.label.pool import check_known, parse_labels, read_labelled, read_pool


def test_rows_take_the_id_column_else_their_row_number_and_keep_their_other_columns(
    tmp_path: Path,
) -> None:
    frame = pd.DataFrame({"body": ["a b", "  ", "c d"], "id": [7, 8, 9], "shop": ["x", "y", "z"]})
    frame.to_parquet(tmp_path / "pool.parquet")
    pool, blank = read_pool(tmp_path / "pool.parquet", text_column="body")
    assert pool.to_dict("list") == {"id": ["7", "9"], "text": ["a b", "c d"], "shop": ["x", "z"]}
    assert blank == 1
    frame.drop(columns="id").to_json(tmp_path / "pool.jsonl", orient="records", lines=True)
    pool, _ = read_pool(tmp_path / "pool.jsonl", text_column="body")
    assert pool["id"].tolist() == ["1", "3"]  # row numbers, counted from 1, as text


def test_duplicate_ids_are_refused_naming_the_file_the_id_and_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "pool.csv"
    pd.DataFrame({"key": ["a", "b", "a"], "text": ["x", "y", "z"]}).to_csv(path, index=False)
    with pytest.raises(UserError, match=r"pool\.csv: the id 'a' is on rows 1, 3"):
        read_pool(path, id_column="key")


def test_a_pool_without_any_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pool.csv"
    pd.DataFrame({"text": ["", " "]}).to_csv(path, index=False)
    with pytest.raises(UserError, match="no row with a text"):
        read_pool(path)


def test_a_labels_file_giving_one_id_two_labels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["1", "1"], "text": ["t", "t"], "label": ["a", "b"]}).to_csv(path)
    with pytest.raises(UserError, match="the id '1' has the labels 'a', 'b'"):
        read_labelled(path)


def test_labels_must_be_known_and_named_once() -> None:
    labelled = pd.DataFrame({"id": ["1", "2"], "text": ["t", "u"], "label": ["a", "c"]})
    with pytest.raises(UserError, match="row 2 \\(id '2'\\) has the label 'c'"):
        check_known(labelled, ["a", "b"], source=Path("labels.csv"))
    assert parse_labels(" a, b ,c") == ["a", "b", "c"]
    with pytest.raises(UserError, match="'a' is given twice"):
        parse_labels("a,b,a")
    with pytest.raises(UserError, match="at least two"):
        parse_labels("a")
