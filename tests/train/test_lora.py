from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from domaintune.config import build_config
from domaintune.data.prepare import run_prepare
from domaintune.errors import UserError
from domaintune.predict import Predictor
from domaintune.rundir import RunDir
from domaintune.train.lora import parameter_counts, with_lora
from domaintune.train.trainer import fit, save_model, training_arguments, training_log
from tests.helpers import fast_config


@pytest.mark.slow
def test_lora_trains_adapters_and_saves_a_plain_model(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config = fast_config(
        tickets_csv,
        tiny_model,
        "train.method=lora",
        "train.epochs=2",
        "train.learning_rate=0.003",
        "train.freeze_embeddings=true",
        "train.precision=fp32",  # the trained model's bf16 autocast would blur the comparison
    )
    run = RunDir(tmp_path / "run")
    run_prepare(config, run)
    fitted = fit(config, run, training_arguments(config.train, run.checkpoints))
    log = training_log(config, fitted, None)
    assert log.method == "lora"
    assert 0 < log.trainable_parameters < log.parameters / 2

    texts = pd.read_parquet(run.split("test"))["text"].tolist()[:6]
    adapted = fitted.trainer.model.eval()
    with torch.inference_mode():
        batch = fitted.tokenizer(texts, padding=True, return_tensors="pt")
        expected = torch.softmax(adapted(**batch).logits, dim=-1).numpy()
    save_model(fitted, run.model, normalization=run.normalization)

    weights = load_file(run.model / "model.safetensors")
    assert not [name for name in weights if "lora" in name or "modules_to_save" in name]
    predictor = Predictor(run.model, backend="torch", precision="fp32")
    predicted = predictor.predict_proba(texts)
    np.testing.assert_allclose(predicted, expected, atol=1e-5)  # the merge keeps the function

    from transformers import pipeline

    # The model card's `pipeline()` snippet gives, label by label, the saved model's scores: this
    # fails if the merged weights or the saved label names are not what training used.
    classifier = pipeline("text-classification", model=str(run.model))
    for text, probabilities in zip(texts, predicted):
        scores = {guess["label"]: guess["score"] for guess in classifier(text, top_k=None)}
        assert scores == pytest.approx(dict(zip(predictor.labels, probabilities)), abs=1e-5)


def test_lora_refuses_layers_the_model_lacks(tiny_model: Path) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    train = build_config({}, ["train.lora_target_modules=[no_such_layer]"]).train
    with pytest.raises(UserError, match="lora_target_modules"):
        with_lora(model, train)
    assert parameter_counts(model)[0] == parameter_counts(model)[1]  # left as it was


@pytest.mark.parametrize("architecture", ["bert", "mpnet"])
def test_the_default_adapters_fit_every_built_in_architecture(architecture: str) -> None:
    """The ladder's models name their attention projections differently (BERT `query`/`value`,
    MPNet `q`/`v`): the default targets must give each its adapters, or `method: lora` fails on
    whichever model `auto` picks."""
    from transformers import AutoConfig

    config = AutoConfig.for_model(
        architecture,
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
    )
    model = AutoModelForSequenceClassification.from_config(config)
    adapted = with_lora(model, build_config({}, []).train)
    names = [name for name, p in adapted.named_parameters() if p.requires_grad and "lora_A" in name]
    assert len(names) == 2 * 2  # query and value, in each of the 2 layers
