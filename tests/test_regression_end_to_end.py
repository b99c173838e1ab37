"""regression end to end through the real CLI: run, then predict and the report from its files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.predict import Predictor
from domaintune.rundir import RunDir
from domaintune.runfiles import RegressionMetrics
from tests.helpers import domaintune, fast_settings, write_rated_reviews

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rated_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> RunDir:
    folder = tmp_path_factory.mktemp("rated")
    data = write_rated_reviews(folder, count=400)
    result = domaintune(
        "run", "--data", str(data), "--objective", "regression", *fast_settings(tiny_model),
        "--out", "runs/stars", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test MAE" in result.stdout
    return RunDir(folder / "runs/stars")


def test_run_scores_values_against_baselines_and_reports_them(rated_run: RunDir) -> None:
    metrics = RegressionMetrics.read(rated_run.metrics)
    assert metrics.mae < metrics.baselines["majority"].mae
    assert metrics.significance["majority"].verdict == "better"
    assert metrics.rounded is not None  # ratings are whole numbers
    report = rated_run.report_md.read_text()
    for words in ("MAE", "RMSE", "Spearman", "TF-IDF"):
        assert words in report
    assert "onfusion" not in report and "macro-F1" not in report
    assert "data:image/png;base64," in rated_run.report_html.read_text()


def test_predict_gives_a_value_per_text(rated_run: RunDir, tmp_path: Path) -> None:
    praise = "thanks great love amazing friendly"
    complaint = "late delayed cancelled lost rude"
    values = Predictor(rated_run.root).predict([praise, complaint])
    assert values[0] > 4 and values[1] < 2
    source = tmp_path / "new.csv"
    pd.DataFrame({"id": [1, 2], "text": [praise, complaint]}).to_csv(source, index=False)
    output = tmp_path / "out.jsonl"
    result = domaintune(
        "predict", str(rated_run.root), "--file", str(source), "--output", str(output),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [set(row) for row in rows] == [{"id", "text", "value"}] * 2
    assert rows[0]["value"] == pytest.approx(values[0], abs=1e-3)


def test_serve_and_export_refuse_a_regression_model_in_one_line(rated_run: RunDir) -> None:
    work = rated_run.root.parent.parent
    for command in (["serve", str(rated_run.root)], ["export", str(rated_run.root)]):
        result = domaintune(*command, cwd=work)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, command
        assert "regression" in result.stderr
