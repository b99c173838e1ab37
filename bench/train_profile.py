"""Where a training step's time goes on this machine, printed as tables.

A step is what `train` runs: forward under the run's precision, backward, gradient clipping to
norm 1, fused AdamW, on real batches of the prepared training split (rows of similar length,
padded to a multiple of 8, the config's batch size), with dropout off and word embeddings frozen
as the defaults have them. Each setting (precision x attention implementation) is a model of its
own, stepped in turn on the same batches so that a noisy machine slows all of them alike.

Two tables: the share of each phase (forward, backward, clipping, optimizer) with rows/s for each
setting; then, from `torch.profiler`, the self time of operator groups (matrix products,
attention kernels, casts and copies, element-wise, normalisation, optimizer) for each setting.
bf16 runs only where the CPU has bf16 units (AVX512_BF16 or AMX), unless --bf16 forces it: on an
AVX2 CPU it is about 20x slower and would take the bench most of an hour.

    python bench/train_profile.py                 # default task, 30 timed steps a setting
    python bench/train_profile.py --steps 5       # a smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile
from transformers import DataCollatorWithPadding, set_seed

from domaintune import assets
from domaintune.cli import quiet_libraries
from domaintune.config import load_config
from domaintune.data.prepare import run_prepare
from domaintune.machine import bf16_is_fast, cpu_flags
from domaintune.models import load_classifier, load_tokenizer
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard
from domaintune.train.hardware import apply_threads
from domaintune.train.ladder import one_model
from domaintune.train.rate import resolve_learning_rate
from domaintune.train.tokencache import LENGTH_MULTIPLE, load_or_tokenize, model_length_limit
from domaintune.train.trainer import (
    freeze_word_embeddings,
    resolve_batch_size,
    training_rows,
)

WARMUP_STEPS = 3
"""Steps of each setting not timed: the first ones allocate memory and warm caches."""
PROFILED_STEPS = 8
PHASES = ("forward", "backward", "clip", "optimizer")
GROUPS = {
    "attention kernel": ("scaled_dot_product", "softmax"),
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::baddbmm"),
    "casts and copies": ("aten::copy_", "aten::_to_copy", "aten::clone", "aten::contiguous"),
    "normalisation": ("layer_norm",),
    "optimizer and clipping": ("adamw", "vector_norm", "aten::mul_", "aten::_foreach"),
    "element-wise": ("gelu", "aten::add", "aten::mul", "aten::div", "aten::tanh", "aten::where"),
}
"""Operator-name fragments of each group, tried in this order; the rest is 'other'."""


@dataclass
class Setting:
    name: str
    model: torch.nn.Module
    bf16: bool
    trained: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    rows: int = 0

    def step(self, batch: dict[str, torch.Tensor], *, timed: bool) -> None:
        marks = [time.perf_counter()]
        precision = (
            torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        )
        with precision:
            loss = self.model(**batch).loss
        marks.append(time.perf_counter())
        loss.backward()
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(self.trained, 1.0)
        marks.append(time.perf_counter())
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        marks.append(time.perf_counter())
        if timed:
            for phase, began, ended in zip(PHASES, marks, marks[1:], strict=False):
                self.seconds[phase] += ended - began
            self.rows += len(batch["labels"])


def build(name: str, source: str, labels: list[str], learning_rate: float) -> Setting:
    precision, attention = name.split("+")
    model = load_classifier(source, labels=labels, dropout=0.0, attention=attention).train()
    freeze_word_embeddings(model)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=learning_rate, weight_decay=0.01, fused=True)
    return Setting(name, model, precision == "bf16", trained, optimizer)


def group_of(operator: str) -> str:
    lowered = operator.lower()
    for group, fragments in GROUPS.items():
        if any(fragment.lower() in lowered for fragment in fragments):
            return group
    return "other"


def operator_groups(setting: Setting, batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Share of the profiled steps' self CPU time in each operator group (aten operators only:
    the autograd wrappers around them would count the same time twice)."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for batch in batches:
            setting.step(batch, timed=False)
    totals: dict[str, float] = defaultdict(float)
    for event in profiler.key_averages():
        if event.key.startswith("aten::"):
            totals[group_of(event.key)] += event.self_cpu_time_total
    whole = sum(totals.values())
    return {group: totals[group] / whole for group in [*GROUPS, "other"]}


def phase_table(settings: list[Setting]) -> str:
    base = settings[0].rows / sum(settings[0].seconds.values())
    lines = [f"{'setting':14} {'rows/s':>7} {'ratio':>6} " + " ".join(f"{p:>9}" for p in PHASES)]
    for setting in settings:
        total = sum(setting.seconds.values())
        shares = " ".join(f"{setting.seconds[p] / total:9.1%}" for p in PHASES)
        speed = setting.rows / total
        lines.append(f"{setting.name:14} {speed:7.1f} {speed / base:6.2f} {shares}")
    return "\n".join(lines)


def group_table(shares: dict[str, dict[str, float]]) -> str:
    names = list(shares)
    lines = [f"{'operator group':24} " + " ".join(f"{name:>12}" for name in names)]
    for group in [*GROUPS, "other"]:
        row = " ".join(f"{shares[name][group]:12.1%}" for name in names)
        lines.append(f"{group:24} {row}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="config name or YAML (default task)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-train"))
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each setting")
    parser.add_argument("--bf16", action="store_true", help="profile bf16 on any CPU")
    options = parser.parse_args(argv)
    quiet_libraries()
    config = resolve_learning_rate(one_model(load_config(options.config, [])))
    threads = apply_threads(config.train.threads)
    run = RunDir(options.out)
    if not run.card.is_file():
        run_prepare(config, run)
    config = resolve_batch_size(config, train_rows=training_rows(run), processes=1)
    flags = cpu_flags()
    with_bf16 = options.bf16 or bf16_is_fast(cuda=False, cuda_bf16=False, flags=flags)
    names = ["fp32+sdpa", "fp32+eager"] + (["bf16+sdpa", "bf16+eager"] if with_bf16 else [])
    labels = DataCard.read(run.card).labels
    source = assets.model_path(config.model.name_or_path)
    tokenizer = load_tokenizer(source)
    set_seed(config.train.seed)
    settings = [build(name, source, labels, config.train.learning_rate) for name in names]
    label2id = {label: i for i, label in enumerate(labels)}
    limit = model_length_limit(settings[0].model, tokenizer)
    train = load_or_tokenize(
        run, tokenizer, label2id, config.model, model_limit=limit, use_cache=False, write=False
    ).train
    rows = train.select_columns(["input_ids", "attention_mask", "labels"]).to_list()
    by_length = np.argsort(train["length"], kind="stable")
    collate = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=LENGTH_MULTIPLE)
    size = int(config.train.batch_size)
    starts = np.random.default_rng(config.train.seed).integers(
        0, len(rows) - size, WARMUP_STEPS + options.steps
    )
    batches = [collate([rows[i] for i in by_length[start : start + size]]) for start in starts]
    for index, batch in enumerate(batches):
        for setting in settings:
            setting.step(batch, timed=index >= WARMUP_STEPS)
    lengths = [batch["input_ids"].shape[1] for batch in batches]
    print(
        f"CPU flags: {' '.join(sorted(flags & {'avx2', 'avx512f', 'avx512_bf16', 'amx_tile'}))}; "
        f"{threads} threads; batch {size} rows, mean padded length {np.mean(lengths):.1f}"
    )
    print(phase_table(settings))
    profiled = batches[WARMUP_STEPS : WARMUP_STEPS + PROFILED_STEPS]
    print(group_table({s.name: operator_groups(s, profiled) for s in settings}))


if __name__ == "__main__":
    main()
