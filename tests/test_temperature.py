"""The fitted temperature beside a model: how probabilities use it, and how it is saved."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from domaintune.temperature import (
    CALIBRATION_FILE,
    load_temperature,
    probabilities,
    save_temperature,
)

LOGITS = np.array([[2.0, 0.0, -1.0], [0.5, 0.4, 3.0], [-2.0, 1.0, 1.5]])


def softmax_by_hand(row: np.ndarray) -> np.ndarray:
    exp = np.exp(row - row.max())
    return exp / exp.sum()


def test_probabilities_are_softmax_of_logits_over_t_row_by_row() -> None:
    """Catches a softmax over the wrong axis, or T multiplied instead of divided."""
    for temperature in (0.5, 1.0, 2.0):
        result = probabilities(LOGITS, temperature=temperature)
        assert result.sum(axis=1) == pytest.approx(np.ones(len(LOGITS)))
        for row, logits in zip(result, LOGITS):
            assert row == pytest.approx(softmax_by_hand(logits / temperature))


def test_probabilities_of_huge_logits_neither_overflow_nor_lose_the_winner() -> None:
    """Catches a softmax without the shift by the row's largest value: exp(1000) overflows."""
    result = probabilities(np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4 + 1, -1e4]]))
    assert np.isfinite(result).all()
    assert result[0] == pytest.approx([1.0, 0.0, 0.0])
    assert result[1].argmax() == 1


def test_a_temperature_softens_or_sharpens_but_keeps_the_predicted_label() -> None:
    unscaled = probabilities(LOGITS)
    softer, sharper = probabilities(LOGITS, temperature=3.0), probabilities(LOGITS, temperature=0.3)
    for scaled in (softer, sharper):
        assert (scaled.argmax(axis=1) == LOGITS.argmax(axis=1)).all()
    assert (softer.max(axis=1) < unscaled.max(axis=1)).all()
    assert (sharper.max(axis=1) > unscaled.max(axis=1)).all()


def test_temperature_round_trips_and_defaults_to_no_scaling(tmp_path: Path) -> None:
    assert load_temperature(tmp_path) == 1.0  # no file: no scaling
    path = save_temperature(tmp_path, 1.7, {"fitted_on": "validation"})
    assert path == tmp_path / CALIBRATION_FILE
    assert load_temperature(tmp_path) == 1.7
    assert json.loads(path.read_text()) == {"temperature": 1.7, "fitted_on": "validation"}
