"""The labeling-curve bench runs end to end on the tiny model, so that it cannot rot unseen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from domaintune.rundir import RunDir
from domaintune.runfiles import LabelingCurve
from tests.helpers import make_rows

BENCH = Path(__file__).resolve().parents[2] / "bench" / "labeling_curve.py"


def test_the_bench_scores_loop_and_random_at_every_budget_and_writes_into_a_run(
    tmp_path: Path, tiny_model: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    make_rows(150).to_parquet(data / "train.parquet")
    make_rows(60, seed=1).to_parquet(data / "test.parquet")
    run = RunDir(tmp_path / "run")
    run.claim("tickets")
    out = tmp_path / "curve"
    command = [sys.executable, str(BENCH), "--data", str(data), "--out", str(out)]
    settings = ["--model", str(tiny_model), "--budgets", "6,12,24", "--seeds", "2"]
    done = subprocess.run(
        [*command, *settings, "--run", str(run.root)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    curve = LabelingCurve.read(run.labeling_curve)
    assert curve == LabelingCurve.read(out / "labeling_curve.json")
    assert curve.budgets == [6, 12, 24]
    assert [len(seed) for seed in (*curve.loop, *curve.random)] == [3] * 4
    for loop, random, reached in zip(curve.loop, curve.random, curve.reached):
        first = next((b for b, value in zip(curve.budgets, loop) if value >= random[-1]), None)
        assert reached == first
    assert "| 24 |" in (out / "labeling_curve.md").read_text()
    assert (out / "labeling_curve.png").stat().st_size > 0
    assert "seed 1: loop" in done.stdout
