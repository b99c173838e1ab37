from __future__ import annotations

import json

import pytest
import yaml

from domaintune.evaluate.model_card import base_model
from domaintune.predict import Predictor
from domaintune.rundir import RunDir


def test_model_card_has_hub_front_matter_with_the_test_figures(finished_run: RunDir) -> None:
    text = finished_run.model_card.read_text()
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(header)
    metrics = json.loads(finished_run.metrics.read_text())
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-classification"
    assert "base_model" not in meta  # a local folder has no Hub id
    assert "license" not in meta and "language" not in meta  # unknown, so not claimed
    result = meta["model-index"][0]["results"][0]
    assert result["task"]["type"] == "text-classification"
    values = {m["name"]: m["value"] for m in result["metrics"]}
    assert values == {"Accuracy": metrics["accuracy"], "Macro F1": metrics["macro_f1"]}
    for section in ("## Intended use", "## Data", "## Training", "## Evaluation", "## Limitations"):
        assert section in body
    low, high = metrics["intervals"]["macro_f1"]
    assert f"{metrics['macro_f1']:.3f} [{low:.3f}, {high:.3f}]" in body
    for name in metrics["baselines"]:
        assert f"baseline: {name}" in body


def test_base_model_is_the_hub_id_of_a_builtin_and_none_for_a_folder(tmp_path) -> None:
    assert base_model("builtin:minilm-l6") == "sentence-transformers/all-MiniLM-L6-v2"
    assert base_model("org/some-model") == "org/some-model"
    assert base_model(str(tmp_path)) is None


def test_model_card_snippet_reads_raw_text_as_training_did(finished_run: RunDir) -> None:
    """Catches a card whose snippet gives users a pipeline that reads raw text differently from
    `domaintune predict` (plain `transformers.pipeline` skips normalisation and calibration), or a
    card that does not say what the saved normalisation does."""
    body = finished_run.model_card.read_text()
    snippet = body.split("```python\n", 1)[1].split("```", 1)[0]
    assert "from domaintune.predict import pipeline" in snippet
    raw = "donâ€™t love the &quot;late&quot; flight on 03/12/2024"
    namespace: dict = {}
    exec(  # the snippet as a user would run it, on this run's model and a raw text
        snippet.replace("path/to/this/folder", str(finished_run.model)).replace(
            '"your text here"', repr(raw)
        ),
        namespace,
    )
    result = namespace["classifier"](raw)[0]
    predictor = Predictor(finished_run.model, backend="torch", precision="fp32")
    probabilities = predictor.predict_proba([raw])[0]
    assert result["label"] == predictor.labels[probabilities.argmax()]
    assert result["score"] == pytest.approx(probabilities.max(), abs=1e-5)
    assert "normalization.json" in body and "wrote dates as ISO 8601" in body
    assert "truncation=True" in body  # what plain transformers.pipeline users must do
