from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from domaintune.evaluate import calibration
from domaintune.evaluate.calibration import fit_temperature, negative_log_likelihood, reliability
from domaintune.predict import Predictor
from domaintune.rundir import RunDir
from domaintune.temperature import load_temperature, probabilities

GRID = np.exp(np.linspace(-4.0, 4.0, 8001))
"""Temperatures a brute-force search tries, spaced 0.1% apart: the optimiser's answer is checked
against it, not against itself."""


def overconfident_logits(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes; logits far more extreme than the 70% accuracy behind them warrants."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.7, gold, rng.integers(0, 3, n))
    logits = rng.normal(0, 0.3, (n, 3))
    logits[np.arange(n), predicted] += 6.0
    return logits, gold


def nll_by_hand(logits: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    """Mean -log softmax(logits / T)[gold], written out independently of the code under test."""
    scaled = logits / temperature
    return float(np.mean(logsumexp(scaled, axis=1) - scaled[np.arange(len(gold)), gold]))


def grid_best(logits: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """The temperature of GRID with the lowest NLL on these rows, and that NLL."""
    values = [nll_by_hand(logits, gold, t) for t in GRID]
    best = int(np.argmin(values))
    return float(GRID[best]), values[best]


def test_the_fitted_temperature_minimises_nll_and_lowers_it_on_held_out_rows() -> None:
    """Catches an optimiser that stops far from the minimum (or minimises the wrong thing), and a
    temperature that only fits its own rows: held-out rows from the same model must gain too."""
    logits, gold = overconfident_logits()
    temperature = fit_temperature(logits, gold)
    assert temperature == pytest.approx(grid_best(logits, gold)[0], rel=0.01)
    held_out, held_out_gold = overconfident_logits(seed=1)
    before = nll_by_hand(held_out, held_out_gold, 1.0)
    after = nll_by_hand(held_out, held_out_gold, temperature)
    assert after < 0.6 * before  # measured: 0.64 against 1.20
    ece_before = reliability(probabilities(held_out), held_out_gold, bins=15)["ece"]
    scaled = probabilities(held_out, temperature=temperature)
    ece_after = reliability(scaled, held_out_gold, bins=15)["ece"]
    assert ece_after < ece_before / 3
    # scaling never changes the predicted label
    assert (scaled.argmax(1) == held_out.argmax(1)).all()


def test_a_search_that_ends_worse_than_no_scaling_falls_back_to_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Catches the fallback missing (a worse temperature kept) or over-eager (a better one
    dropped): the search's answer is forced, once worse and once better than T = 1."""
    logits, gold = overconfident_logits()
    monkeypatch.setattr(calibration, "minimize_scalar", lambda *_, **__: SimpleNamespace(x=-3.0))
    assert nll_by_hand(logits, gold, np.exp(-3.0)) > nll_by_hand(logits, gold, 1.0)
    assert fit_temperature(logits, gold) == 1.0
    monkeypatch.setattr(calibration, "minimize_scalar", lambda *_, **__: SimpleNamespace(x=1.0))
    assert nll_by_hand(logits, gold, np.e) < nll_by_hand(logits, gold, 1.0)
    assert fit_temperature(logits, gold) == pytest.approx(np.e)


def test_nll_is_the_mean_negative_log_probability_of_the_gold_label() -> None:
    """Catches a wrong sign, a sum instead of a mean, or a temperature multiplied, not divided."""
    logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    gold = np.array([0, 0])
    expected = (np.log(1 + np.exp(-1.0)) + np.log(1 + np.exp(0.5))) / 2  # at T = 2
    assert negative_log_likelihood(logits, gold, temperature=2.0) == pytest.approx(expected)


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    gold = np.array([0, 1, 0, 1])
    result = reliability(probs, gold, bins=10)
    # bin (0.8, 0.9]: confidence 0.9, accuracy 0.5; bin (0.5, 0.6]: confidence 0.6, accuracy 1
    assert result["ece"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    assert [b["rows"] for b in result["bins"]] == [2, 2]
    assert reliability(np.array([[1.0, 0.0]]), np.array([0]), bins=5)["ece"] == 0


def test_the_runs_temperature_is_the_best_on_its_validation_split(finished_run: RunDir) -> None:
    """Catches a temperature fitted on the wrong rows (test, train) or not saved: with the tiny
    model's real logits, the saved one must be as good on validation as a brute-force search's,
    and the NLL figures in metrics.json must be the validation split's."""
    validation = pd.read_parquet(finished_run.split("validation"))
    predictor = Predictor(finished_run.model, backend="torch", precision="fp32")  # as evaluate
    logits = predictor.predict_logits(validation["text"].tolist())
    gold = validation["label"].map(predictor.labels.index).to_numpy()
    saved = load_temperature(finished_run.model)
    assert predictor.temperature == saved
    best, lowest = grid_best(logits, gold)
    assert nll_by_hand(logits, gold, saved) == pytest.approx(lowest, abs=1e-4)
    unscaled = nll_by_hand(logits, gold, 1.0)
    assert saved != 1.0 or unscaled <= lowest + 1e-4, f"T = {best} beats T = 1 on validation"
    figures = json.loads(finished_run.metrics.read_text())["calibration"]
    assert figures["validation_nll_before"] == pytest.approx(unscaled, rel=1e-4)
    assert figures["validation_nll_after"] == pytest.approx(lowest, abs=1e-4)
