from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import load_from_disk
from safetensors.torch import load_file
from transformers.modeling_outputs import SequenceClassifierOutput

from domaintune.config import Config, build_config
from domaintune.data.prepare import run_prepare
from domaintune.errors import UserError
from domaintune.models import load_classifier
from domaintune.predict import Predictor
from domaintune.rundir import RunDir
from domaintune.runfiles import TrainLog
from domaintune.train import hardware
from domaintune.train.hardware import Machine
from domaintune.train.trainer import (
    freeze_lowest_layers,
    resolve_batch_size,
    run_train,
    training_arguments,
    weighted_loss,
)
from tests.helpers import fast_config

BF16_CPU = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
AVX2_CPU = frozenset({"avx2", "fma"})


def test_weighted_loss_weighs_classes() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([1, 1])
    outputs = SequenceClassifierOutput(logits=logits)
    plain = weighted_loss(torch.tensor([1.0, 1.0]))(outputs, labels)
    assert plain == pytest.approx(torch.nn.functional.cross_entropy(logits, labels))
    heavy = weighted_loss(torch.tensor([1.0, 3.0]))(outputs, labels)
    assert heavy == pytest.approx(3 * plain)


def test_auto_batch_size_is_32_only_where_each_epoch_keeps_100_steps() -> None:
    auto = build_config({}, [])
    assert auto.train.batch_size == "auto"
    assert resolve_batch_size(auto, train_rows=3200, processes=1).train.batch_size == 32
    assert resolve_batch_size(auto, train_rows=3199, processes=1).train.batch_size == 16
    per_process = resolve_batch_size(auto, train_rows=6399, processes=2)
    assert per_process.train.batch_size == 16
    assert auto.train.batch_size == "auto"  # resolving makes a new config
    fixed = build_config({}, ["train.batch_size=8"])
    assert resolve_batch_size(fixed, train_rows=10**6, processes=1).train.batch_size == 8


def test_dropout_setting_reaches_every_dropout_and_none_keeps_the_models(
    tiny_model: Path,
) -> None:
    batch = {"input_ids": torch.tensor([[2, 7, 8, 9, 3]]), "attention_mask": torch.ones(1, 5)}
    torch.manual_seed(0)
    kept = load_classifier(str(tiny_model), labels=["a", "b"], dropout=None).train()
    assert kept.config.hidden_dropout_prob == kept.config.attention_probs_dropout_prob == 0.1
    assert not torch.equal(kept(**batch).logits, kept(**batch).logits)  # masks differ each call
    off = load_classifier(str(tiny_model), labels=["a", "b"], dropout=0.0).train()
    assert off.config.hidden_dropout_prob == off.config.attention_probs_dropout_prob == 0.0
    dropouts = [module for module in off.modules() if isinstance(module, torch.nn.Dropout)]
    assert dropouts and all(module.p == 0.0 for module in dropouts)  # the classifier's too
    assert torch.equal(off(**batch).logits, off(**batch).logits)


@pytest.mark.slow
@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_word_embeddings_stay_as_pretrained_while_the_rest_learns(
    freeze: bool, tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config, run = prepared_run(
        tmp_path, tickets_csv, tiny_model, "train.epochs=2", f"train.freeze_embeddings={freeze}"
    )
    log = run_train(config, run)
    before, after = (
        load_file(tiny_model / "model.safetensors"),
        load_file(run.model / "model.safetensors"),
    )
    table = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(before[table], after[table]) == freeze
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before[layer], after[layer])
    frozen = before[table].numel() if freeze else 0
    assert log.trainable_parameters == log.parameters - frozen
    assert log.freeze_embeddings == freeze and log.dropout == 0.0


@pytest.mark.slow
def test_frozen_lowest_layers_stay_as_pretrained_while_the_layers_above_learn(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    """Catches a layer left to learn below the frozen line (the backward pass would not stop),
    a frozen layer above it, and the setting missing from the log."""
    config, run = prepared_run(
        tmp_path, tickets_csv, tiny_model, "train.epochs=2", "train.freeze_layers=1"
    )
    log = run_train(config, run)
    before, after = (
        load_file(tiny_model / "model.safetensors"),
        load_file(run.model / "model.safetensors"),
    )
    changed = {
        name for name in after if name in before and not torch.equal(before[name], after[name])
    }
    assert not any(
        name.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for name in changed
    )
    assert "bert.encoder.layer.1.attention.self.query.weight" in changed
    assert log.freeze_layers == 1 and log.trainable_parameters < log.parameters


def test_freezing_every_layer_is_a_user_error(tiny_model: Path) -> None:
    model = load_classifier(str(tiny_model), labels=["a", "b"])
    with pytest.raises(UserError, match=r"train\.freeze_layers is 2 but the model has 2"):
        freeze_lowest_layers(model, 2)


def prepared_run(
    folder: Path, tickets_csv: Path, tiny_model: Path, *overrides: str
) -> tuple[Config, RunDir]:
    config = fast_config(tickets_csv, tiny_model, *overrides)
    run = RunDir(folder / "run")
    run_prepare(config, run)
    return config, run


def train_on_the_cpu(monkeypatch: pytest.MonkeyPatch, flags: frozenset[str] | None) -> None:
    """Train on the CPU whatever the host has, as if the CPU had `flags` (its own when None)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if flags is not None:
        monkeypatch.setattr(hardware, "usable_cpu_flags", lambda: flags)


@pytest.mark.slow
def test_training_learns_and_saves_a_model_with_label_names(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Precision: fp32 asked for on a CPU where `auto` would pick bf16. Catches the setting
    overridden by the machine, and a log stating a precision or device other than the one used."""
    train_on_the_cpu(monkeypatch, BF16_CPU)
    config, run = prepared_run(tmp_path, tickets_csv, tiny_model, "train.precision=fp32")
    log = run_train(config, run)
    saved = json.loads((run.model / "config.json").read_text())
    assert saved["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert (run.model / "model.safetensors").is_file()
    assert log.best_validation_macro_f1 > 0.7  # chance is 0.33 on three balanced classes
    assert log.max_length % 8 == 0
    assert not run.checkpoints.exists()
    tokenizer_config = json.loads((run.model / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == log.max_length
    assert TrainLog.read(run.train_log) == log
    assert log.precision == "fp32" and log.device == "cpu" and log.torch_threads == 1
    assert log.attention == "sdpa"  # Transformers' own choice: as fast as eager in fp32
    assert log.method == "full" and log.batch_size == 8


@pytest.mark.slow
@pytest.mark.parametrize(
    ("precision", "flags"), [("auto", BF16_CPU), ("bf16", None)], ids=["auto-on-bf16-cpu", "forced"]
)
def test_bf16_trains_on_any_cpu_and_saves_a_loadable_fp32_model(
    precision: str,
    flags: frozenset[str] | None,
    tmp_path: Path,
    tickets_csv: Path,
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`auto` on a CPU with AVX512_BF16 (the crash of issue 10: bf16 without use_cpu), and bf16
    forced on this host's CPU, whatever its flags. Catches the Trainer refusing bf16 on a CPU,
    a run that silently falls back to fp32, and bf16 weights saved: predict and evaluate run in
    fp32 and must read the full-precision weights the optimizer kept."""
    train_on_the_cpu(monkeypatch, flags)
    config, run = prepared_run(
        tmp_path, tickets_csv, tiny_model, "train.epochs=2", f"train.precision={precision}"
    )
    log = run_train(config, run)
    assert log.precision == "bf16" and log.device == "cpu"
    assert log.attention == "eager"  # the fused kernel's bf16 backward pass is slow on a CPU
    assert log.best_validation_macro_f1 is not None  # validation ran under bf16 too
    assert load_classifier(str(run.model)).config._attn_implementation == "sdpa"  # not kept
    weights = load_file(run.model / "model.safetensors")
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}
    texts = ["thanks great flight", "my bag was lost", "gate change tomorrow"]
    probabilities = Predictor(run.model).predict_proba(texts)
    assert probabilities.shape == (3, 3) and np.allclose(probabilities.sum(axis=1), 1)


@pytest.mark.parametrize(
    ("precision", "flags", "processes", "bf16", "use_cpu"),
    [
        ("auto", BF16_CPU, 1, True, True),
        ("auto", AVX2_CPU, 1, False, False),
        ("auto", AVX2_CPU, 2, False, True),
        ("fp32", BF16_CPU, 1, False, False),
        ("bf16", AVX2_CPU, 1, True, True),
    ],
    ids=["auto-bf16-cpu", "auto-avx2", "avx2-2-processes", "fp32-on-bf16-cpu", "bf16-on-avx2"],
)
def test_training_arguments_follow_the_machine(
    precision: str,
    flags: frozenset[str],
    processes: int,
    bf16: bool,
    use_cpu: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Trainer's own settings built for each CPU branch, whatever the host's CPU. Catches the
    device settings not reaching TrainingArguments, and TrainingArguments refusing bf16 on a CPU
    (it checks for a GPU, not for the CPU's bf16 units)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    train = build_config({}, ["train.batch_size=8", f"train.precision={precision}"]).train
    machine = Machine(cuda=False, cuda_bf16=False, cpu_flags=flags, processes=processes)
    args = training_arguments(train, tmp_path, machine=machine)
    assert (args.bf16, args.use_cpu, args.dataloader_pin_memory) == (bf16, use_cpu, False)
    assert args.device.type == "cpu"


@pytest.mark.slow
def test_training_counts_rows_real_and_padded_tokens(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config, run = prepared_run(tmp_path, tickets_csv, tiny_model, "train.epochs=2")
    log = run_train(config, run)
    train = load_from_disk(next(run.cache.glob("tokenized-*")) / "train")
    assert [epoch.rows for epoch in log.throughput_by_epoch] == [len(train)] * 2
    assert [epoch.tokens for epoch in log.throughput_by_epoch] == [sum(train["length"])] * 2
    padded = log.throughput_by_epoch[0].padded_tokens
    assert padded % 8 == 0 and padded >= sum(train["length"])  # batches padded to a multiple of 8
    assert log.padded_tokens_per_token >= 1
    assert log.rows_per_second > 0 and log.tokens_per_second > 0
    assert log.padded_tokens_per_second >= log.tokens_per_second


@pytest.mark.slow
def test_same_config_and_seed_train_the_same_model(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config, run = prepared_run(tmp_path, tickets_csv, tiny_model, "train.epochs=3")
    first = run_train(config, run)
    first_weights = load_file(run.model / "model.safetensors")
    second = run_train(config, run)  # tokens now come from the run's cache
    assert not first.tokenized_from_cache and second.tokenized_from_cache
    assert validation_figures(second) == validation_figures(first)
    second_weights = load_file(run.model / "model.safetensors")
    assert all(torch.equal(first_weights[name], second_weights[name]) for name in first_weights)


def validation_figures(log: TrainLog) -> list[dict]:
    """Losses and scores per logging step, without timings."""
    return [
        {key: value for key, value in entry.items() if "runtime" not in key and "second" not in key}
        for entry in log.history
    ]


@pytest.mark.slow
def test_torchrun_trains_on_two_processes_and_writes_once(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    _, run = prepared_run(tmp_path, tickets_csv, tiny_model, "train.epochs=2")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    result = subprocess.run(
        [*torchrun, "2", "-m", "domaintune.cli", "train", "--out", str(run.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]  # torchrun: every process exited 0
    assert result.stdout.count("train done") == 1  # only the first process speaks
    log = json.loads(run.train_log.read_text())
    assert log["processes"] == 2
    assert log["steps"] == 2 * math.ceil(log["train_rows"] / (2 * 8))  # each process half the rows
    assert log["throughput_by_epoch"][0]["rows"] >= log["train_rows"]  # counted over both
    assert log["best_validation_macro_f1"] is not None
    assert (run.model / "model.safetensors").is_file() and not run.checkpoints.exists()
    assert not list(run.root.rglob(".*.tmp-*")), "a temporary file was left behind"
    assert Predictor(run.model).predict(["thanks great flight"])[0] in log["labels"]


@pytest.mark.slow
def test_early_stopping_ends_training_when_validation_stops_improving(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config, run = prepared_run(
        tmp_path,
        tickets_csv,
        tiny_model,
        "train.epochs=5",
        "train.learning_rate=1e-9",
        "train.early_stopping_patience=1",
    )
    log = run_train(config, run)
    assert log.stopped_early and log.epochs_run == 2
    assert log.best_epoch == 1
