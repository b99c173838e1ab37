"""`domaintune compare`: finished runs side by side, read from their run folders alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domaintune.errors import UserError
from domaintune.report.compare import load_metrics
from domaintune.rundir import RunDir
from tests.helpers import copy_run, domaintune


def test_compare_lists_runs_with_intervals_and_refuses_a_run_without_metrics(
    finished_run: RunDir, tmp_path: Path
) -> None:
    metrics = json.loads(finished_run.metrics.read_text())
    root, other = str(finished_run.root), str(copy_run(finished_run, tmp_path).root)
    result = domaintune("compare", root, other, "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 2 * (1 + len(metrics["baselines"]))
    assert [row["run"] for row in rows[:: len(rows) // 2]] == [root, other]
    assert rows[0]["macro_f1"] == metrics["macro_f1"]
    assert rows[0]["macro_f1_interval"] == metrics["intervals"]["macro_f1"]
    verdicts = {row["model"]: row["verdict"] for row in rows[1 : len(rows) // 2]}
    assert verdicts == {
        f"baseline: {name}": test["verdict"] for name, test in metrics["significance"].items()
    }
    result = domaintune("compare", root, "--format", "markdown", cwd=tmp_path)
    low, high = metrics["intervals"]["macro_f1"]
    assert f"{metrics['macro_f1']:.3f} [{low:.3f}, {high:.3f}]" in result.stdout
    result = domaintune("compare", root, str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and len(result.stderr.splitlines()) == 1
    assert "metrics.json is missing" in result.stderr


@pytest.mark.parametrize("objective", ["multi_label", "regression", "generation", "language_model"])
def test_compare_refuses_runs_of_other_objectives_by_name(tmp_path: Path, objective: str) -> None:
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.metrics.write_text(json.dumps({"schema_version": 1, "objective": objective}))
    with pytest.raises(UserError, match=f"is a {objective} run: compare does not support"):
        load_metrics([run.root])
