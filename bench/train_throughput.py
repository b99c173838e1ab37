"""Training speed and score: the classic fine-tuning recipe against domaintune's defaults, side by side.

Both train the same model on the same prepared split (the default task's, unless --config says
otherwise), for the same epochs, on this machine, in one run, one after the other.

The classic recipe is the Transformers text-classification tutorial and example with their
defaults: tokenise in a batched `datasets.map` (1,000 rows a batch) with `padding=True,
truncation=True` (each map batch padded to its longest row, up to the tokenizer's 512), hand the
tokenizer to the `Trainer` (so its default collator pads each training batch again), and leave
TrainingArguments at their defaults: fp32, linear decay, no warmup, no weight decay, random
batches, plain cross-entropy, no evaluation or early stopping during training, the last model
kept. Only the batch size and learning rate are set, to the project's seed recipe as the issue
on training speed (issue 17) defines it: batch 16 (the example's default is 8) and 2e-5. domaintune: the config's train section as it is
(batch size `auto`: 32 on the default task's 5,319 training rows), except that the
token cache is off, so both tokenise from scratch.

For each: rows/s and real tokens/s over the training steps, padded tokens per real token, wall time
of training (evaluations included), test macro-F1 of the final model, test macro-F1 after every
epoch (scored by the benchmark, its time not counted), the time each first reaches the classic
recipe's final test macro-F1, and the share of the CPU's peak arithmetic rate each reaches.

FLOPs: a training step costs about 6 x N per token (forward 2N, backward 4N; N the parameters
outside embedding tables, which are looked up, not multiplied) plus 6 x layers x length x hidden
per token for attention (Kaplan et al. 2020), with length the batch's padded length, taken as the
mean padded length. "executed" counts every padded position the CPU computed; "useful" counts real
tokens only. Peak: cores x clock x FLOPs per cycle per core, in the precision the recipe trains
in. fp32: 32 FLOPs a cycle with AVX2 (two 8-lane FMA units, 2 FLOPs per FMA), 64 with AVX-512.
bf16: 1,024 with AMX tiles (Intel's figure for Sapphire Rapids), 128 with AVX512_BF16 alone (its
dot-product instruction does two products per fp32 lane), else the fp32 rate. Cores are PyTorch's
threads, the clock the CPU's maximum (or its current clock where the maximum is not exposed). An
upper bound that real kernels never reach; its use is to compare recipes and machines.

    python bench/train_throughput.py                          # the full comparison (~30 min on 2 cores)
    python bench/train_throughput.py --limit-rows 200 --epochs 1   # a smoke test (~1-2 min)
    python bench/train_throughput.py --limit-rows 4800 --epochs 1 --set train.attention=sdpa
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from datasets import Dataset
from sklearn.metrics import f1_score
from torch.utils.data import DataLoader
from transformers import (
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from domaintune import assets
from domaintune.cli import quiet_libraries
from domaintune.config import Config, build_config, load_config
from domaintune.data.prepare import run_prepare
from domaintune.machine import cpu_flags
from domaintune.models import load_classifier, load_tokenizer
from domaintune.rundir import RunDir, write_json, write_parquet
from domaintune.runfiles import DataCard
from domaintune.train.hardware import apply_threads
from domaintune.train.ladder import one_model
from domaintune.train.rate import resolve_learning_rate
from domaintune.train.throughput import MeasuredTrainer, summarize
from domaintune.train.tokencache import load_or_tokenize, model_length_limit, tokenize
from domaintune.train.trainer import (
    fit,
    resolve_batch_size,
    training_arguments,
    training_rows,
)

CLASSIC_LEARNING_RATE = 2e-5
"""The seed recipe's learning rate (TrainingArguments' default is 5e-5)."""
CLASSIC_BATCH_SIZE = 16
"""The batch the issue that asked for this benchmark gives the classic recipe (the example's
default is 8, which would make it slower still)."""


SPEED_FLAGS = frozenset({"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
"""The CPU flags that decide training speed: vector width, bf16 arithmetic, AMX tiles."""


class TestScores(TrainerCallback):
    """Scores the test split at the end of every epoch; keeps the time this takes off the clock."""

    def __init__(self, test_set: Dataset, tokenizer: PreTrainedTokenizerBase, batch_size: int):
        self.test_set = test_set
        self.collator = DataCollatorWithPadding(tokenizer)
        self.batch_size = batch_size
        self.epochs: list[dict[str, float]] = []
        self._started = 0.0
        self._scoring = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        at = time.perf_counter()
        macro_f1 = self.score(kwargs["model"])
        self.epochs.append(
            {
                "epoch": round(float(state.epoch), 2),
                "seconds": round(at - self._started - self._scoring, 1),
                "test_macro_f1": round(macro_f1, 4),
            }
        )
        self._scoring += time.perf_counter() - at

    @torch.inference_mode()
    def score(self, model: torch.nn.Module) -> float:
        """Test macro-F1 of `model` as it is now; leaves it in training mode, as it found it."""
        was_training = model.training
        model.eval()
        gold, predicted = [], []
        loader = DataLoader(self.test_set, batch_size=self.batch_size, collate_fn=self.collator)
        for batch in loader:
            labels = batch.pop("labels")
            logits = model(**{key: value.to(model.device) for key, value in batch.items()}).logits
            gold += labels.tolist()
            predicted += logits.argmax(-1).tolist()
        model.train(was_training)
        return float(f1_score(gold, predicted, average="macro"))


def limited(run: RunDir, rows: int, folder: Path) -> RunDir:
    """A run directory holding the first `rows` rows of each split (the splits are shuffled)."""
    small = RunDir(folder)
    small.claim(f"{run.root.name}-limit-{rows}")
    for name in ("train", "validation", "test"):
        write_parquet(small.split(name), pd.read_parquet(run.split(name)).head(rows))
    DataCard.read(run.card).write(small.card)
    return small


def matmul_parameters(model: torch.nn.Module) -> int:
    """Parameters used in matrix products: all but embedding tables."""
    embedded = sum(
        p.numel()
        for module in model.modules()
        if isinstance(module, torch.nn.Embedding)
        for p in module.parameters()
    )
    return sum(p.numel() for p in model.parameters()) - embedded


def flops_per_token(model: torch.nn.Module, mean_length: float) -> float:
    config = model.config
    attention = 6 * config.num_hidden_layers * mean_length * config.hidden_size
    return 6 * matmul_parameters(model) + attention


def peak_flops() -> dict[str, Any]:
    """cores x clock x FLOPs per cycle, read from this machine."""
    flags = cpu_flags()
    fp32_per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags else 8
    bf16_per_cycle = (
        1024 if "amx_bf16" in flags else 128 if "avx512_bf16" in flags else fp32_per_cycle
    )
    maximum = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if maximum.is_file():
        ghz, source = int(maximum.read_text()) / 1e6, "maximum clock"
    else:
        mhz = [
            float(line.partition(":")[2])
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("cpu MHz")
        ]
        ghz, source = (max(mhz) / 1e3 if mhz else 1.0), "current clock (/proc/cpuinfo)"
    cores = torch.get_num_threads()
    model_name = next(
        (
            line.partition(":")[2].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {
        "cpu": model_name,
        "flags": sorted(flags & SPEED_FLAGS),
        "cores": cores,
        "ghz": round(ghz, 3),
        "clock_source": source,
        "peak_gflops": {
            "fp32": round(cores * ghz * fp32_per_cycle, 1),
            "bf16": round(cores * ghz * bf16_per_cycle, 1),
        },
    }


def measured(
    trainer: MeasuredTrainer, scores: TestScores, seconds: float, peak: dict[str, Any]
) -> dict[str, Any]:
    epochs = trainer.throughput.epochs
    rates = summarize(epochs)
    rows = sum(epoch["rows"] for epoch in epochs)
    tokens = sum(epoch["tokens"] for epoch in epochs)
    padded = sum(epoch["padded_tokens"] for epoch in epochs)
    per_token = flops_per_token(trainer.model, padded / max(rows, 1))
    precision = "bf16" if trainer.args.bf16 else "fp32"
    ceiling = peak["peak_gflops"][precision]
    executed = padded * per_token / rates["step_seconds"] / 1e9
    useful = tokens * per_token / rates["step_seconds"] / 1e9
    return {
        "rows_per_second": rates["rows_per_second"],
        "tokens_per_second": rates["tokens_per_second"],
        "padded_tokens_per_token": rates["padded_tokens_per_token"],
        "train_seconds": round(seconds, 1),
        "step_seconds": rates["step_seconds"],
        "epochs_run": len(epochs),
        "test_macro_f1": round(scores.score(trainer.model), 4),
        "by_epoch": scores.epochs,
        "executed_gflops": round(executed, 2),
        "useful_gflops": round(useful, 2),
        "precision": precision,
        "attention": trainer.model.config._attn_implementation,
        "executed_share_of_peak": round(executed / ceiling, 4),
        "useful_share_of_peak": round(useful / ceiling, 4),
    }


def run_classic(config: Config, run: RunDir, peak: dict[str, Any]) -> dict[str, Any]:
    """The tutorial recipe, TrainingArguments' defaults but the batch size."""
    source = assets.model_path(config.model.name_or_path)
    labels = DataCard.read(run.card).labels
    label2id = {label: i for i, label in enumerate(labels)}
    set_seed(config.train.seed)
    tokenizer = load_tokenizer(source)
    model = load_classifier(source, labels=labels)

    def encoded(name: str) -> Dataset:
        frame = pd.read_parquet(run.split(name))[["text", "label"]]
        rows = Dataset.from_pandas(frame.assign(label=frame["label"].map(label2id)))
        return rows.map(
            lambda batch: tokenizer(batch["text"], padding=True, truncation=True), batched=True
        )

    test_set = encoded("test").remove_columns(["text"]).rename_column("label", "labels")
    scores = TestScores(test_set, tokenizer, config.train.eval_batch_size)
    with tempfile.TemporaryDirectory() as folder:
        args = TrainingArguments(
            output_dir=folder,
            num_train_epochs=config.train.epochs,
            per_device_train_batch_size=CLASSIC_BATCH_SIZE,
            learning_rate=CLASSIC_LEARNING_RATE,
            save_strategy="no",
            report_to="none",
            seed=config.train.seed,
        )
        trainer = MeasuredTrainer(
            model=model,
            args=args,
            train_dataset=encoded("train"),
            processing_class=tokenizer,
            callbacks=[scores],
        )
        started = time.perf_counter()
        trainer.train()
        return {
            "batch_size": CLASSIC_BATCH_SIZE,
            **measured(trainer, scores, time.perf_counter() - started, peak),
        }


def run_domaintune(
    config: Config, run: RunDir, peak: dict[str, Any], overrides: list[str]
) -> dict[str, Any]:
    """domaintune's train stage as `domaintune train` runs it, but without the token cache, with
    `overrides` (section.key=value) applied."""
    config = build_config(config.model_dump(), ["train.cache_tokenized=false", *overrides])
    config = resolve_batch_size(config, train_rows=training_rows(run), processes=1)
    source = assets.model_path(config.model.name_or_path)
    labels = DataCard.read(run.card).labels
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = load_tokenizer(source)
    limit = model_length_limit(load_classifier(source, labels=labels), tokenizer)
    splits = load_or_tokenize(
        run, tokenizer, label2id, config.model, model_limit=limit, use_cache=False, write=False
    )
    test_split = pd.read_parquet(run.split("test"))
    test = tokenize(
        test_split,
        tokenizer,
        label2id,
        reading=splits.long_text,
        max_chunks=config.model.max_chunks,
    )
    scores = TestScores(test.remove_columns(["length"]), tokenizer, config.train.eval_batch_size)
    with tempfile.TemporaryDirectory() as folder:
        args = training_arguments(config.train, Path(folder))
        fitted = fit(config, run, args, callbacks=[scores])
        return {
            "batch_size": config.train.batch_size,
            **measured(fitted.trainer, scores, fitted.seconds, peak),
        }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def speedups(classic: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """domaintune's figures divided by the classic recipe's, and the seconds each took to reach
    the classic recipe's final test macro-F1."""
    target = classic["test_macro_f1"]
    classic_reached = seconds_to_reach(classic, target)
    ours_reached = seconds_to_reach(ours, target)
    return {
        "target_test_macro_f1": target,
        "classic_seconds_to_target": classic_reached,
        "domaintune_seconds_to_target": ours_reached,
        "rows_per_second": ratio(ours["rows_per_second"], classic["rows_per_second"]),
        "padded_tokens_per_token": ratio(
            ours["padded_tokens_per_token"], classic["padded_tokens_per_token"]
        ),
        "train_seconds": ratio(ours["train_seconds"], classic["train_seconds"]),
        "seconds_to_target": ratio(ours_reached, classic_reached),
        "useful_share_of_peak": ratio(
            ours["useful_share_of_peak"], classic["useful_share_of_peak"]
        ),
    }


def seconds_to_reach(result: dict[str, Any], target: float) -> float | None:
    """Seconds until the first epoch whose test macro-F1 reaches `target`."""
    for epoch in result["by_epoch"]:
        if epoch["test_macro_f1"] >= target - 1e-9:
            return epoch["seconds"]
    return None


def table(classic: dict[str, Any], ours: dict[str, Any], ratios: dict[str, Any]) -> str:
    rows = [
        ("rows/s (training steps)", "rows_per_second", "rows_per_second"),
        ("real tokens/s", "tokens_per_second", None),
        ("padded tokens per real token", "padded_tokens_per_token", "padded_tokens_per_token"),
        ("training wall time, s", "train_seconds", "train_seconds"),
        ("epochs run", "epochs_run", None),
        ("precision", "precision", None),
        ("attention", "attention", None),
        ("test macro-F1 (final model)", "test_macro_f1", None),
        ("useful share of peak FLOP/s", "useful_share_of_peak", "useful_share_of_peak"),
        ("executed share of peak FLOP/s", "executed_share_of_peak", None),
    ]
    lines = [f"{'':34} {'classic':>10} {'domaintune':>11} {'ratio':>7}"]
    for title, key, ratio_key in rows:
        shown = ratios.get(ratio_key) if ratio_key else None
        lines.append(
            f"{title:34} {classic[key]!s:>10} {ours[key]!s:>11} {'' if shown is None else shown!s:>7}"
        )
    lines.append(
        f"{'s to reach classic final F1':34} {ratios['classic_seconds_to_target']!s:>10} "
        f"{ratios['domaintune_seconds_to_target'] or 'never'!s:>11} "
        f"{'' if ratios['seconds_to_target'] is None else ratios['seconds_to_target']!s:>7}"
    )
    for name, result in (("classic", classic), ("domaintune", ours)):
        epochs = ", ".join(
            f"{e['epoch']:g}: {e['test_macro_f1']:.3f} at {e['seconds']:.0f} s"
            for e in result["by_epoch"]
        )
        lines.append(f"{name} test macro-F1 by epoch: {epochs}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="config name or YAML (default task)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-train"))
    parser.add_argument("--limit-rows", type=int, default=None, help="first N rows of each split")
    parser.add_argument("--epochs", type=float, default=None, help="default: the config's")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="override a key of domaintune's side only, e.g. train.attention=sdpa (repeatable)",
    )
    options = parser.parse_args(argv)
    quiet_libraries()
    overrides = [] if options.epochs is None else [f"train.epochs={options.epochs}"]
    config = resolve_learning_rate(one_model(load_config(options.config, overrides)))
    apply_threads(config.train.threads)
    run = RunDir(options.out)
    if not run.card.is_file():
        print(f"preparing the data into {run.data}", file=sys.stderr)
        run_prepare(config, run)
    if options.limit_rows:
        run = limited(run, options.limit_rows, options.out / f"limit-{options.limit_rows}")
    peak = peak_flops()
    print(f"peak: {peak}", file=sys.stderr)
    print("training with the classic recipe", file=sys.stderr)
    classic = run_classic(config, run, peak)
    print("training with domaintune's defaults", file=sys.stderr)
    ours = run_domaintune(config, run, peak, options.overrides)
    ratios = speedups(classic, ours)
    result = {
        "data": str(run.data),
        "model": config.model.name_or_path,
        "epochs": config.train.epochs,
        "domaintune_overrides": options.overrides,
        "train_rows": len(pd.read_parquet(run.split("train"))),
        "test_rows": len(pd.read_parquet(run.split("test"))),
        "machine": peak,
        "classic": classic,
        "domaintune": ours,
        "ratios_domaintune_to_classic": ratios,
    }
    write_json(options.out / "train_throughput.json", result)
    print(table(classic, ours, ratios))
    print(f"details: {options.out / 'train_throughput.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
