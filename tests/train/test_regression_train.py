"""regression training: the standardised target, the best epoch by RMSE, the head folded back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import pipeline

from domaintune.data.prepare import run_prepare
from domaintune.errors import UserError
from domaintune.models import load_classifier, output_layer
from domaintune.predict import Predictor
from domaintune.regression import TargetScale, fold_into_head, value_scores
from domaintune.rundir import RunDir
from domaintune.train.trainer import run_train
from tests.helpers import fast_config, write_rated_reviews


def test_the_scale_standardises_and_restores() -> None:
    values = np.array([1.0, 2.0, 3.0, 10.0])
    scale = TargetScale.fit(values)
    assert scale.standardize(values).mean() == pytest.approx(0)
    assert scale.standardize(values).std() == pytest.approx(1)
    assert scale.restore(scale.standardize(values)) == pytest.approx(values)
    assert TargetScale.fit(np.array([4.0, 4.0])).std == 1.0  # a constant target stays finite


def test_folding_the_scale_into_the_head_restores_the_outputs(tiny_model: Path) -> None:
    model = load_classifier(str(tiny_model), labels=["stars"], problem_type="regression").eval()
    assert output_layer(model) is model.classifier
    inputs = {"input_ids": torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])}
    inputs["attention_mask"] = (inputs["input_ids"] > 0).long()
    with torch.no_grad():
        before = model(**inputs).logits[:, 0].numpy()
        scale = TargetScale(mean=3.0, std=1.5)
        fold_into_head(output_layer(model), scale)
        after = model(**inputs).logits[:, 0].numpy()
    assert after == pytest.approx(scale.restore(before), abs=1e-5)


def test_value_scores_against_their_definitions() -> None:
    gold = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    predicted = np.array([1.5, 2.0, 2.5, 4.5, 4.0])
    scores = value_scores(gold, predicted)
    assert scores["mae"] == pytest.approx(0.5)
    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - gold) ** 2)))
    assert scores["r2"] == pytest.approx(1 - 1.75 / 10)
    assert scores["spearman"] == pytest.approx(0.9)
    assert value_scores(gold, np.full(5, 3.0))["spearman"] == 0.0  # a constant has no order


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_learns_the_values_and_saves_them_on_their_own_scale(
    tmp_path: Path, tiny_model: Path, precision: str
) -> None:
    """bf16 is forced as well as fp32, whatever this CPU has: MSE under bf16 autocast must train,
    and the saved weights stay fp32."""
    data = write_rated_reviews(tmp_path, count=400)
    config = fast_config(
        data, tiny_model, "task.objective=regression", f"train.precision={precision}"
    )
    run = RunDir(tmp_path / "run")
    run_prepare(config, run)
    log = run_train(config, run)
    assert log.precision == precision
    assert log.best_validation_macro_f1 is None and log.best_validation_rmse < 0.5
    saved = json.loads((run.model / "config.json").read_text())
    assert saved["problem_type"] == "regression" and saved["id2label"] == {"0": "label"}
    test = pd.read_parquet(run.split("test"))
    predictor = Predictor(run.model, backend="torch", precision="fp32")
    values = predictor.predict_values(test["text"].tolist())
    assert value_scores(test["label"].to_numpy(), values)["mae"] < 0.5  # ratings 1-5, not z-scores
    decided = predictor.decide(test["text"].tolist()[:3])
    assert list(decided.columns) == ["value"] and decided["value"].tolist() == pytest.approx(
        values[:3].tolist(), abs=1e-5
    )
    with pytest.raises(UserError, match="regression model"):
        predictor.predict_proba(["great"])
    ecosystem = pipeline("text-classification", model=str(run.model), function_to_apply="none")
    scored = ecosystem(test["text"].tolist()[:3])
    assert [row["score"] for row in scored] == pytest.approx(values[:3].tolist(), abs=1e-3)
