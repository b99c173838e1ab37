"""The quick start with --objective multi_label, and its one-line errors, through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from domaintune.data.split import SPLITS
from domaintune.rundir import RunDir
from tests.helpers import domaintune, write_tagged_tickets


def test_quick_start_prepares_label_sets(tmp_path: Path) -> None:
    data = write_tagged_tickets(tmp_path)
    result = domaintune(
        "prepare",
        "--data",
        str(data),
        "--objective",
        "multi_label",
        "--out",
        "runs/t",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    test = pd.read_parquet(RunDir(tmp_path / "runs/t").split("test"))
    assert {label for labels in test["label"] for label in labels} == {
        "billing",
        "bug",
        "feature",
        "login",
    }
    rows = {name: len(pd.read_parquet(RunDir(tmp_path / "runs/t").split(name))) for name in SPLITS}
    assert "train {train}, validation {validation}, test {test} ".format(**rows) in result.stdout


def test_an_all_empty_label_column_is_one_error_line(tmp_path: Path) -> None:
    data = tmp_path / "empty.jsonl"
    pd.DataFrame({"text": ["my invoice is wrong", "cannot login"], "label": [[], []]}).to_json(
        data, orient="records", lines=True
    )
    result = domaintune("prepare", "--data", str(data), "--objective", "multi_label", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "every row's label list is empty" in result.stderr and "row 1" in result.stderr
