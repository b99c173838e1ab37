"""train for generation and language_model with the tiny llama: the loss on targets only, LoRA
merged before saving, resume, and language_model through every stage."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from domaintune.config import build_config
from domaintune.data.prepare import run_prepare
from domaintune.evaluate.stage import run_evaluate
from domaintune.generation import IGNORE, Prompting, encode
from domaintune.models import load_tokenizer
from domaintune.report.build import run_report
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard, GenerationMetrics, TrainLog
from domaintune.train.causal import causal_arguments, fit_causal, run_train_causal
from domaintune.train.checkpoints import start_fresh
from domaintune.train.hardware import Machine
from domaintune.train.trainer import run_train
from tests.helpers import GENERATION_TRAINING, HEADLINES, make_headline_pairs
from tests.train.test_trainer import BF16_CPU, train_on_the_cpu


def test_only_the_target_and_its_end_of_turn_are_learnt(tiny_llama: Path) -> None:
    tokenizer = load_tokenizer(str(tiny_llama))
    prompting = Prompting("generation", "write a headline", 64, 8)
    row = encode(tokenizer, prompting, "goal team coach", HEADLINES["sport"])
    learnt = [t for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE]
    assert tokenizer.decode(learnt[:-1]) == HEADLINES["sport"]
    assert learnt[-1] == tokenizer.eos_token_id
    prompt = tokenizer.decode(row["input_ids"][: len(row["input_ids"]) - len(learnt)])
    assert "system" in prompt and "write a headline" in prompt and prompt.endswith("assistant")
    cut = encode(tokenizer, prompting.__class__("generation", "x", 2, 8), "goal team coach", "a")
    assert cut["cut"]


def prepared(folder: Path, model: Path, objective: str, *overrides: str) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pairs.csv"
    make_headline_pairs(120).to_csv(path, index=False)
    data = {"source": str(path), "text_column": "article"}
    if objective == "generation":
        data["target_column"] = "headline"
    config = build_config(
        {
            "task": {"objective": objective},
            "data": data,
            "model": {"name_or_path": str(model)},
        },
        [*GENERATION_TRAINING, *overrides],
    )
    run = RunDir(folder / "run")
    run_prepare(config, run)
    return config, run


@pytest.mark.slow
def test_lora_is_merged_into_a_plain_model(tmp_path: Path, tiny_llama: Path) -> None:
    config, run = prepared(
        tmp_path, tiny_llama, "generation", "train.method=lora", "generation.max_steps=10"
    )
    log = run_train(config, run)
    assert log.method == "lora" and log.trainable_parameters < log.parameters
    weights = load_file(run.model / "model.safetensors")
    assert not [name for name in weights if "lora" in name]
    original = load_file(tiny_llama / "model.safetensors")
    changed = [n for n in original if n in weights and not torch.equal(original[n], weights[n])]
    assert any("q_proj" in name for name in changed)
    assert not any("mlp" in name for name in changed)  # adapters only on attention


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= self.step
        return control


@pytest.mark.slow
def test_training_cut_short_resumes_to_the_same_result(tmp_path: Path, tiny_llama: Path) -> None:
    settings = (
        "generation.max_steps=40",
        "generation.eval_steps=10",
        "train.epochs=4",
        "train.group_by_length=false",
    )
    config, run = prepared(tmp_path / "cut", tiny_llama, "generation", *settings)
    whole = RunDir(tmp_path / "whole")
    shutil.copytree(run.root, whole.root)
    first = run_train_causal(config, whole)

    start_fresh(run, config)
    args = causal_arguments(config, run.checkpoints, machine=Machine.current(), train_rows=96)
    fit_causal(config, run, args, callbacks=[StopAt(20)])  # as if killed after step 20
    assert (run.checkpoints / "checkpoint-20").is_dir()
    second = run_train_causal(config, run, resume=True)
    assert second.resumed_from == "checkpoint-20"
    assert second.steps == first.steps == 40

    def losses(log: TrainLog) -> dict[int, float]:
        return {e["step"]: e["eval_loss"] for e in log.history if "eval_loss" in e}

    # without length grouping the resumed epoch is drawn in the same order: the same run
    assert losses(second) == pytest.approx(losses(first), rel=1e-6)
    assert set(losses(second)) == set(losses(first)) == {10, 20, 30, 40}
    assert second.best_validation_loss < losses(second)[10]
    assert TrainLog.read(run.train_log).resumed_from == "checkpoint-20"
    weights = load_file(whole.model / "model.safetensors")
    again = load_file(run.model / "model.safetensors")
    assert weights.keys() == again.keys()
    assert all(torch.allclose(weights[name], again[name], atol=1e-6) for name in weights)


@pytest.mark.slow
def test_language_model_learns_the_domain_text(tmp_path: Path, tiny_llama: Path) -> None:
    config, run = prepared(
        tmp_path, tiny_llama, "language_model", "generation.max_steps=60",
        "generation.max_eval_rows=10",
    )  # fmt: skip
    assert set(DataCard.read(run.card).tokens) == {"input"}
    run_train(config, run)
    metrics = run_evaluate(config, run)
    assert isinstance(metrics, GenerationMetrics)
    assert metrics.objective == "language_model"
    assert metrics.perplexity * 2 < metrics.perplexity_base
    assert metrics.rougeL is None and not metrics.rouge
    assert metrics.test_rows == 10 < DataCard.read(run.card).split.rows["test"]
    run_report(config, run)
    text = run.report_md.read_text()
    assert "language_model" in text and "ROUGE against" not in text


def test_a_tokenizer_without_a_chat_template_gets_the_turns_as_plain_text(
    tiny_llama: Path,
) -> None:
    from domaintune.generation import prompt_text

    tokenizer = load_tokenizer(str(tiny_llama))
    tokenizer.chat_template = None
    prompt = prompt_text(tokenizer, Prompting("generation", "write a headline", 64, 8), "a b")
    assert prompt == "write a headline\n\nInput: a b\n\nOutput: "


@pytest.mark.parametrize("flags", [BF16_CPU, frozenset({"avx2"})], ids=["bf16", "fp32"])
def test_precision_auto_trains_the_causal_model_as_the_cpu_allows(
    tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch, flags: frozenset[str]
) -> None:
    """Both branches of `precision: auto`, whatever this host has: bf16 autocast where the CPU
    has bf16 units (as bbc-headlines trains here), fp32 elsewhere, with the default LoRA."""
    train_on_the_cpu(monkeypatch, flags)
    config, run = prepared(
        tmp_path, tiny_llama, "generation", "train.precision=auto", "train.method=lora",
        "generation.max_steps=4", "generation.eval_steps=2", "generation.max_eval_rows=10",
    )  # fmt: skip
    log = run_train(config, run)
    assert log.precision == ("bf16" if flags == BF16_CPU else "fp32")
    assert log.steps == 4 and math.isfinite(log.best_validation_loss)
