"""The quality bench runs end to end on a tiny model, so that it cannot rot unseen between the
sessions that measure with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FAST_TRAINING, add_label_noise

BENCH = Path(__file__).resolve().parents[2] / "bench" / "quality.py"


@pytest.mark.slow
def test_the_quality_bench_scores_each_variant_against_tfidf_on_one_split(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    """Every variant on the same prepared split (the same test rows and TF-IDF score), the
    distilled one taught by the mpnet variant's run (here the tiny model stands for both)."""
    add_label_noise(tickets_csv)  # so that TF-IDF + LR leaves errors to cut
    settings = [f"model.name_or_path={tiny_model}", *FAST_TRAINING, "train.epochs=2"]
    extra = [part for setting in settings for part in ("--set", setting)]
    out = tmp_path / "quality"
    command = [sys.executable, str(BENCH), "--out", str(out), "--sets", str(tickets_csv)]
    done = subprocess.run(
        [*command, "--variants", "mpnet,distilled", *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((out / "quality.json").read_text())
    assert [row["variant"] for row in rows] == ["mpnet", "distilled"]
    assert len({(row["test_rows"], row["tfidf_macro_f1"]) for row in rows}) == 1
    for row in rows:
        expected = (row["macro_f1"] - row["tfidf_macro_f1"]) / (1 - row["tfidf_macro_f1"])
        assert row["error_cut"] == pytest.approx(expected)
        assert row["interval"][0] <= row["macro_f1"] <= row["interval"][1]
    stem = tickets_csv.stem
    taught = json.loads((out / stem / "distilled" / "train_log.json").read_text())
    assert taught["distilled_from"] == str(out / stem / "mpnet")
    assert (out / "quality.png").stat().st_size > 0
    assert "mpnet: mean error cut" in done.stdout
