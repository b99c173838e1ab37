from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaintune.evaluate.longtext import (
    FIRST_WINDOW,
    choose_pooling,
    long_text_scores,
    strategies,
)
from domaintune.longtext import load_long_text
from domaintune.rundir import RunDir
from domaintune.runfiles import Metrics
from tests.helpers import FILLER, domaintune, fast_settings, make_rows


def test_strategies_read_the_first_window_or_pool_them_all() -> None:
    logits = np.array([[0.0, 1.0], [4.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    owners = np.array([0, 0, 0, 1])
    read = strategies(logits, owners, texts=2)
    assert read[FIRST_WINDOW].tolist() == [[0.0, 1.0], [0.0, 3.0]]
    assert read["mean"] == pytest.approx(np.array([[2.0, 1 / 3], [0.0, 3.0]]))
    assert read["max"].tolist() == [[4.0, 1.0], [0.0, 3.0]]


def test_max_pools_only_when_it_beats_mean_by_more_than_two_validation_texts() -> None:
    gold = np.array([0, 1, 1, 0] * 5)
    right = np.eye(2)[gold]
    one_wrong = right.copy()
    one_wrong[0] = [0, 1]
    four_wrong = right.copy()
    four_wrong[:4] = 1 - right[:4]
    assert choose_pooling({"mean": four_wrong, "max": right}, gold) == "max"
    assert choose_pooling({"mean": one_wrong, "max": right}, gold) == "mean"  # within noise
    assert choose_pooling({"mean": right, "max": one_wrong}, gold) == "mean"


def test_scores_are_split_by_token_length_in_multiples_of_the_limit() -> None:
    gold = np.array([0, 1, 0, 1])
    right = np.eye(2)[gold]
    test = {FIRST_WINDOW: np.eye(2)[[0, 1, 1, 0]], "mean": right, "max": right}
    scored = long_text_scores(
        pooling="mean",
        max_length=10,
        validation=test,
        validation_gold=gold,
        test=test,
        test_gold=gold,
        test_tokens=np.array([5, 8, 45, 50]),
    )
    assert [(b.min_tokens, b.max_tokens, b.rows) for b in scored.by_tokens] == [
        (5, 8, 2),
        (45, 50, 2),
    ]
    assert scored.by_tokens[0].macro_f1[FIRST_WINDOW] == 1.0
    assert scored.by_tokens[1].macro_f1[FIRST_WINDOW] == 0.0
    assert scored.by_tokens[1].macro_f1["max"] == 1.0


def long_rows(count: int) -> pd.DataFrame:
    """Texts whose class words all come after 60 filler words: past the first window."""
    rng = random.Random(0)
    rows = make_rows(count)
    rows["text"] = [
        " ".join(rng.choices(FILLER, k=60)) + " " + text for text in rows["text"].tolist()
    ]
    return rows


@pytest.mark.slow
def test_chunks_read_what_truncation_cannot_and_predict_pools_as_evaluate_chose(
    tmp_path: Path, tiny_model: Path
) -> None:
    data = tmp_path / "long.csv"
    long_rows(240).to_csv(data, index=False)
    settings = [*fast_settings(tiny_model), "--set", "model.long_text=chunks"]
    result = domaintune("run", "--data", str(data), *settings, "--out", "runs/long", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = RunDir(tmp_path / "runs/long")
    log = json.loads(run.train_log.read_text())
    assert log["long_text"] == "chunks" and log["train_windows"] >= 2 * log["train_rows"]
    metrics = Metrics.read(run.metrics)
    read = metrics.long_text
    assert read is not None and read.pooling == load_long_text(run.model, max_length=0).pooling
    first = read.test_macro_f1[FIRST_WINDOW]
    assert first < 0.5  # truncation never sees the class words (chance is about 0.33)
    assert read.test_macro_f1[read.pooling] >= first + 0.3  # the windows read them
    assert metrics.macro_f1 == pytest.approx(read.test_macro_f1[read.pooling])
    assert "read in overlapping windows" in run.report_md.read_text()
    text = long_rows(1)["text"].iloc[0]
    predicted = domaintune("predict", str(run.root), "--text", text, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert "negative" in predicted.stdout
