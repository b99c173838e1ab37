"""Few-shot training: the saved classifier computes SetFit's features, its head is the logistic
regression, and `auto` picks the method from the smallest class."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from transformers import AutoModel, AutoTokenizer

from domaintune.config import build_config
from domaintune.errors import UserError
from domaintune.models import output_layer
from domaintune.rundir import RunDir, write_parquet
from domaintune.train.fewshot import (
    FEWSHOT_MODEL,
    assembled_classifier,
    check_fewshot,
    fit_head,
    head_inputs,
    resolve_method,
)

TEXTS = ["thanks great flight", "late delayed cancelled lost bags again today", "seat question"]


@pytest.fixture(scope="module")
def assembled(tiny_model: Path) -> torch.nn.Module:
    return assembled_classifier(
        str(tiny_model), AutoModel.from_pretrained(tiny_model), ["a", "b", "c"]
    )


def test_the_saved_classifier_reads_the_mean_of_the_encoders_tokens(
    tiny_model: Path, assembled: torch.nn.Module
) -> None:
    """Catches a pooling layer that reads the first token, counts padding in the mean, or keeps
    the residual: the head must see tanh(LayerNorm(mean of the unpadded last states) / sqrt(d)),
    whatever else shares the batch."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    encoder = AutoModel.from_pretrained(tiny_model).eval()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    rows = [
        {
            key: values[i][: int(batch["attention_mask"][i].sum())].tolist()
            for key, values in batch.items()
        }
        for i in range(len(TEXTS))
    ]
    features = head_inputs(assembled, rows, tokenizer)
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1)
    size = hidden.shape[-1]
    expected = torch.tanh(torch.nn.functional.layer_norm(mean, (size,)) / math.sqrt(size))
    assert np.allclose(features, expected.numpy(), atol=2e-3)
    alone = head_inputs(assembled, rows[:1], tokenizer)
    assert np.allclose(alone[0], features[0], atol=1e-5)


def test_the_output_layer_is_the_fitted_logistic_regression(
    tiny_model: Path, assembled: torch.nn.Module
) -> None:
    """Catches a head whose softmax is not the regression's probabilities, for several classes
    and for two, where one weight vector must be split between the two logits."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, assembled.config.hidden_size)).astype(np.float32)
    for classes in (3, 2):
        labels = np.arange(40) % classes
        layer = torch.nn.Linear(features.shape[1], classes)
        model = torch.nn.Sequential(layer)
        model.config = type("Config", (), {"num_labels": classes})()
        fit_head(model, features, labels, c=3.0, balanced=False, seed=0)
        regression = LogisticRegression(C=3.0, max_iter=1000, random_state=0).fit(features, labels)
        with torch.no_grad():
            probabilities = torch.softmax(output_layer(model)(torch.from_numpy(features)), -1)
        assert np.allclose(probabilities.numpy(), regression.predict_proba(features), atol=1e-4)


def prepared_run(tmp_path: Path, *counts: int) -> RunDir:
    """A run whose training split has `counts` rows of one class after another."""
    run = RunDir(tmp_path / ("run-" + "-".join(map(str, counts))))
    run.claim("test")
    run.data.mkdir()
    labels = [f"class{i}" for i, count in enumerate(counts) for _ in range(count)]
    write_parquet(run.split("train"), pd.DataFrame({"text": labels, "label": labels}))
    return run


@pytest.mark.parametrize(
    ("counts", "method"),
    [((63, 63), "fewshot"), ((64, 64), "full"), ((10, 60, 60), "fewshot"), ((10, 990), "full")],
)
def test_auto_trains_few_shot_below_the_measured_rows_a_class(
    tmp_path: Path, counts: tuple[int, ...], method: str
) -> None:
    """Catches the threshold off by one, or applied to the rarest class (one rare class among
    large ones would make a large split into pairs by the million); the built-in sentence encoder
    is chosen for model auto only with few-shot, and the log says why."""
    config = build_config({}, ["train.fewshot_below=64"])
    resolved, choice, reason = resolve_method(config, prepared_run(tmp_path, *counts))
    assert resolved.train.method == method
    assert (choice is not None and choice.model == FEWSHOT_MODEL) == (method == "fewshot")
    assert (resolved.model.name_or_path == FEWSHOT_MODEL) == (method == "fewshot")
    assert reason is not None and (", below train" in reason) == (method == "fewshot")
    _, _, unasked = resolve_method(
        build_config({}, ["train.method=full"]), prepared_run(tmp_path, 4, 4)
    )
    assert unasked is None


def test_auto_keeps_full_training_where_few_shot_cannot_run(tmp_path: Path) -> None:
    """Catches auto choosing a method that would then refuse: pairs of fields, several labels."""
    run = prepared_run(tmp_path, 4, 4)
    for overrides in (
        ["data.text_columns=[q, a]", "data.text_pair=true"],
        ["train.distill_from=elsewhere"],
    ):
        resolved, _, _ = resolve_method(build_config({}, overrides), run)
        assert resolved.train.method == "full", overrides


def test_few_shot_refuses_what_it_cannot_train_with_one_line() -> None:
    for overrides, model_type, named in (
        (["task.objective=multi_label"], "bert", "multi_label"),
        ([], "mpnet", "mpnet"),
        (["model.long_text=chunks"], "bert", "long_text"),
    ):
        with pytest.raises(UserError, match=named) as error:
            check_fewshot(build_config({}, ["train.method=fewshot", *overrides]), model_type)
        assert "\n" not in str(error.value) and "train.method=full" in str(error.value)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_pair_phase_runs_in_either_precision_and_returns_fp32_weights(
    tmp_path: Path, tiny_model: Path, precision: str
) -> None:
    """Both branches of precision, forced whatever this CPU has: bf16 autocast (with eager
    attention on a CPU) or plain fp32; the encoder handed on keeps fp32 weights either way."""
    from domaintune.train.fewshot import train_contrastive

    config = build_config({}, [f"train.precision={precision}", "train.fewshot_pairs_per_row=2"])
    texts = ["thanks great", "love best", "late delayed", "lost broken"]
    encoder, ran = train_contrastive(
        str(tiny_model), texts, [0, 0, 1, 1], config, max_length=16, output_dir=tmp_path
    )
    assert ran["precision"] == precision and ran["steps"] > 0
    assert ran["attention"] == ("eager" if precision == "bf16" else "sdpa")
    assert all(p.dtype == torch.float32 for p in encoder.parameters())
