"""The fitted temperature beside a model: written by evaluate, applied by every prediction.

It lives below both stages so that prediction can apply it without importing the evaluation that
fits it (domaintune.evaluate.calibration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from domaintune.rundir import read_json, write_json

CALIBRATION_FILE = "calibration.json"


def probabilities(logits: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T), row by row: T > 1 softens over-confident probabilities. In numpy, as
    scipy's `softmax` computes it (shifted by the row's largest value), without its 0.05 ms of
    checks per call: prediction at batch 1 calls it once a text."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def save_temperature(folder: Path, temperature: float, details: dict[str, Any]) -> Path:
    path = folder / CALIBRATION_FILE
    write_json(path, {"temperature": temperature, **details})
    return path


def load_temperature(folder: Path) -> float:
    """The model folder's fitted temperature; 1.0 (no scaling) when it has none."""
    path = folder / CALIBRATION_FILE
    return float(read_json(path)["temperature"]) if path.is_file() else 1.0
