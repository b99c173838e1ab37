"""The one prediction path, for `predict`, `serve`, evaluate and the Python API: texts normalised
as training normalised them, logits from a backend (PyTorch, or ONNX Runtime once exported),
calibrated probabilities, and the run's decision rules."""

from domaintune.predict.pipeline import pipeline
from domaintune.predict.predictor import Predictor

__all__ = ["Predictor", "pipeline"]
