"""The quick start with --objective regression, and its one-line errors, through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from domaintune.rundir import RunDir
from tests.helpers import domaintune, write_rated_reviews


def test_quick_start_prepares_numbers(tmp_path: Path) -> None:
    data = write_rated_reviews(tmp_path)
    result = domaintune(
        "prepare", "--data", str(data), "--objective", "regression", "--out", "runs/r", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    test = pd.read_parquet(RunDir(tmp_path / "runs/r").split("test"))
    assert test["label"].dtype == "float64" and set(test["label"]) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_text_in_a_numeric_target_is_one_error_line(tmp_path: Path) -> None:
    data = tmp_path / "stars.csv"
    rows = pd.DataFrame({"text": [f"review {i}" for i in range(120)], "stars": ["4"] * 120})
    rows.loc[6, "stars"] = "four stars"
    rows.to_csv(data, index=False)
    result = domaintune(
        "prepare", "--data", str(data), "--label-column", "stars", "--objective", "regression",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "row 7 has 'four stars' in stars, which is not a number" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_setting_that_judges_classes_is_one_error_line(tmp_path: Path) -> None:
    data = write_rated_reviews(tmp_path)
    result = domaintune(
        "prepare", "--data", str(data), "--objective", "regression",
        "--set", "prepare.balance=oversample", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "prepare.balance: oversample works on classes" in result.stderr
