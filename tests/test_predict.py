from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from domaintune.calibration import save_temperature
from domaintune.errors import UserError
from domaintune.predict import Predictor


@pytest.fixture
def classifier(tmp_path: Path, tiny_model: Path) -> Path:
    folder = tmp_path / "classifier"
    config = BertConfig.from_pretrained(tiny_model)
    config.id2label = {0: "neg", 1: "pos"}
    config.label2id = {"neg": 0, "pos": 1}
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return folder


def test_batched_predictions_keep_the_input_order(classifier: Path) -> None:
    predictor = Predictor(classifier)
    texts = [
        "thanks",
        "late delayed cancelled lost rude broken angry",
        "seat",
        "the flight was great",
    ]
    together = predictor.predict_proba(texts, batch_size=2)
    alone = np.vstack([predictor.predict_proba([text]) for text in texts])
    assert together == pytest.approx(alone, abs=1e-5)
    assert predictor.labels == ["neg", "pos"]
    assert set(predictor.predict(texts)) <= {"neg", "pos"}


def test_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a model folder"):
        Predictor(tmp_path)


def test_a_saved_temperature_scales_probabilities_but_not_labels(classifier: Path) -> None:
    texts = ["thanks great", "late delayed cancelled", "seat"]
    raw = Predictor(classifier)
    logits = raw.predict_logits(texts)
    save_temperature(classifier, 2.5, {"fitted_on": "validation"})
    scaled = Predictor(classifier)
    probabilities = scaled.predict_proba(texts)
    expected = np.exp(logits / 2.5) / np.exp(logits / 2.5).sum(axis=1, keepdims=True)
    assert probabilities == pytest.approx(expected, abs=1e-5)
    assert scaled.predict(texts) == raw.predict(texts)
