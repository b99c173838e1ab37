"""Merging labels into the labels file: nothing lost, conflicts and unknown labels refused, the
file untouched on error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from domaintune.errors import UserError
from domaintune.label.merge import merge_labels


def filled(*rows: tuple[str, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["id", "text", "label"])
    frame["source"] = [f"row {n}" for n in range(1, len(frame) + 1)]
    return frame


def test_merging_adds_new_labels_keeps_the_old_and_skips_empty_ones(tmp_path: Path) -> None:
    into = tmp_path / "labels.csv"
    first = merge_labels(
        Path("a.csv"), filled(("1", "t1", "a"), ("2", "t2", "")), into, labels=["a", "b"]
    )
    assert (first.added, first.already_present, first.skipped_empty, first.total) == (1, 0, 1, 1)
    again = merge_labels(
        Path("b.csv"), filled(("1", "t1", "a"), ("3", "t3", "b")), into, labels=["a", "b"]
    )
    assert (again.added, again.already_present, again.total) == (1, 1, 2)
    labels = pd.read_csv(into, dtype=str)
    assert labels.values.tolist() == [["1", "t1", "a"], ["3", "t3", "b"]]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("5", "t5", "c")], "row 1 \\(id '5'\\) has the label 'c', not one of a, b"),
        ([("1", "t1", "b")], "row 1 labels the id '1' 'b', but .*labels.csv already has it as 'a'"),
        (
            [("5", "t", "a"), ("5", "t", "b")],
            "the id '5' is given different labels \\(row 1 'a', row 2 'b'\\)",
        ),
    ],
)
def test_an_unknown_or_conflicting_label_is_refused_and_the_file_left_as_it_was(
    tmp_path: Path, rows: list[tuple[str, str, str]], message: str
) -> None:
    into = tmp_path / "labels.csv"
    into.write_text("id,text,label,note\n1,t1,a,mine\n2,t2,b,\n")
    before = into.read_bytes()
    with pytest.raises(UserError, match=message):
        merge_labels(Path("filled.csv"), filled(*rows), into, labels=None)
    assert into.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]  # no temporary left


def test_the_first_import_needs_the_label_names(tmp_path: Path) -> None:
    into = tmp_path / "labels.csv"
    with pytest.raises(UserError, match="give --labels"):
        merge_labels(Path("f.csv"), filled(("1", "t", "a")), into, labels=None)
    assert not into.exists()


def test_columns_of_the_users_own_in_the_labels_file_are_kept(tmp_path: Path) -> None:
    into = tmp_path / "labels.csv"
    into.write_text("id,text,label,note\n1,t1,a,mine\n")
    merge_labels(Path("f.csv"), filled(("2", "t2", "b")), into, labels=["a", "b"])
    assert pd.read_csv(into, dtype=str, keep_default_na=False).values.tolist() == [
        ["1", "t1", "a", "mine"], ["2", "t2", "b", ""],
    ]  # fmt: skip
