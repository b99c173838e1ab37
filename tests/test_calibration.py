from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaintune.calibration import (
    fit_temperature,
    load_temperature,
    negative_log_likelihood,
    probabilities,
    reliability,
    save_temperature,
)
from domaintune.predict import Predictor
from domaintune.rundir import RunDir


def overconfident_logits(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes; logits far more extreme than the 70% accuracy behind them warrants."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.7, gold, rng.integers(0, 3, n))
    logits = rng.normal(0, 0.3, (n, 3))
    logits[np.arange(n), predicted] += 6.0
    return logits, gold


def test_temperature_softens_an_overconfident_model_and_lowers_nll_and_ece() -> None:
    logits, gold = overconfident_logits()
    temperature = fit_temperature(logits, gold)
    assert temperature > 2
    assert negative_log_likelihood(logits, gold, temperature) < negative_log_likelihood(
        logits, gold
    )
    before = reliability(probabilities(logits), gold, bins=15)["ece"]
    after = reliability(probabilities(logits, temperature), gold, bins=15)["ece"]
    assert after < before / 3
    # scaling never changes the predicted label
    assert (probabilities(logits, temperature).argmax(1) == logits.argmax(1)).all()


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    gold = np.array([0, 1, 0, 1])
    result = reliability(probs, gold, bins=10)
    # bin (0.8, 0.9]: confidence 0.9, accuracy 0.5; bin (0.5, 0.6]: confidence 0.6, accuracy 1
    assert result["ece"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    assert [b["rows"] for b in result["bins"]] == [2, 2]
    assert reliability(np.array([[1.0, 0.0]]), np.array([0]), bins=5)["ece"] == 0


def test_temperature_round_trips_and_defaults_to_no_scaling(tmp_path: Path) -> None:
    assert load_temperature(tmp_path) == 1.0
    save_temperature(tmp_path, 1.7, {"fitted_on": "validation"})
    assert load_temperature(tmp_path) == 1.7


def test_temperature_fitted_on_the_run_lowers_validation_nll(finished_run: RunDir) -> None:
    """With the tiny model's real logits: the saved temperature does not raise validation NLL."""
    validation = pd.read_parquet(finished_run.split("validation"))
    predictor = Predictor(finished_run.model)
    logits = predictor.predict_logits(validation["text"].tolist())
    gold = validation["label"].map(predictor.labels.index).to_numpy()
    saved = load_temperature(finished_run.model)
    assert predictor.temperature == saved != 1.0
    assert saved == pytest.approx(fit_temperature(logits, gold), rel=1e-3)
    assert negative_log_likelihood(logits, gold, saved) <= negative_log_likelihood(logits, gold)
