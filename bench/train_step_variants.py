"""What each training default buys: rows/s of one training step under each variant, side by side.

Every variant is a model of its own, trained on the same real batches of the prepared training
split (groups of rows of similar length, padded to a multiple of 8, as `train` batches them), one
step of each variant in turn, so that a noisy machine slows all of them alike. A step is what the
Trainer does: forward, backward, gradient clipping to norm 1, fused AdamW. Prints rows/s and the
ratio to the first variant.

Variants (any combination, joined by '+'): base (the model's dropout, all weights trained, batch
16, fp32, Transformers' attention: sdpa), freeze (word embeddings frozen), nodrop (dropout 0), b32
or b64 (batch 32 or 64), bf16 (autocast), eager (plain attention operators), frozen2 or frozen3
(embeddings and the lowest 2 or 3 layers frozen), compile (`torch.compile(dynamic=True)`; its
first steps compile, and the warm-up steps absorb only part of it: the bench prints them).

The default list adds domaintune's training defaults one by one, then the switches measured and
left off; its bf16 variants run only where the CPU has bf16 units (AVX512_BF16 or AMX).

    python bench/train_step_variants.py                 # default task, 40 steps of each variant
    python bench/train_step_variants.py --steps 5 --variants base,freeze+nodrop+b32
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
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
from domaintune.train.tokencache import LENGTH_MULTIPLE, load_or_tokenize, model_length_limit
from domaintune.train.trainer import (
    freeze_lowest_layers,
    freeze_word_embeddings,
)

DEFAULTS = "freeze+nodrop+b32"
FP32_VARIANTS = ["base", "freeze", "nodrop", "b32", DEFAULTS, f"{DEFAULTS}+eager"]
BF16_VARIANTS = [
    f"{DEFAULTS}+bf16",
    f"{DEFAULTS}+bf16+eager",
    f"{DEFAULTS}+bf16+eager+b64",
    f"{DEFAULTS}+bf16+eager+frozen2",
    f"{DEFAULTS}+bf16+eager+frozen3",
    f"{DEFAULTS}+bf16+eager+compile",
]
PARTS = {"base", "freeze", "nodrop", "b32", "b64", "bf16", "eager", "frozen2", "frozen3", "compile"}
WARMUP_STEPS = 3
"""Steps of each variant not timed: the first ones allocate memory and warm caches."""


@dataclass
class Variant:
    name: str
    model: torch.nn.Module
    trained: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    batch_size: int
    bf16: bool
    seconds: float = 0.0
    rows: int = 0
    warmup_seconds: float = 0.0


def build(name: str, source: str, labels: list[str]) -> Variant:
    parts = set(name.split("+"))
    unknown = parts - PARTS
    if unknown:
        raise SystemExit(f"unknown variant part(s) {sorted(unknown)} in '{name}'")
    model = load_classifier(
        source,
        labels=labels,
        dropout=0.0 if "nodrop" in parts else None,
        attention="eager" if "eager" in parts else None,
    ).train()
    if "freeze" in parts:
        freeze_word_embeddings(model)
    freeze_lowest_layers(model, 3 if "frozen3" in parts else 2 if "frozen2" in parts else 0)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-4, weight_decay=0.01, fused=True)
    if "compile" in parts:
        model = torch.compile(model, dynamic=True)
    size = 64 if "b64" in parts else 32 if "b32" in parts else 16
    return Variant(name, model, trained, optimizer, size, bf16="bf16" in parts)


def step(variant: Variant, batch: dict[str, torch.Tensor]) -> None:
    precision = (
        torch.autocast("cpu", dtype=torch.bfloat16) if variant.bf16 else contextlib.nullcontext()
    )
    with precision:
        loss = variant.model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(variant.trained, 1.0)
    variant.optimizer.step()
    variant.optimizer.zero_grad(set_to_none=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="config name or YAML (default task)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-train"))
    parser.add_argument("--variants", default=None, help="comma-separated (default: see above)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps of each variant")
    options = parser.parse_args(argv)
    quiet_libraries()
    config = one_model(load_config(options.config, []))
    apply_threads(config.train.threads)
    run = RunDir(options.out)
    if not run.card.is_file():
        run_prepare(config, run)
    labels = DataCard.read(run.card).labels
    source = assets.model_path(config.model.name_or_path)
    tokenizer = load_tokenizer(source)
    set_seed(config.train.seed)
    fast_bf16 = bf16_is_fast(cuda=False, cuda_bf16=False, flags=cpu_flags())
    names = (
        options.variants.split(",")
        if options.variants
        else FP32_VARIANTS + (BF16_VARIANTS if fast_bf16 else [])
    )
    variants = [build(name, source, labels) for name in names]
    limit = model_length_limit(variants[0].model, tokenizer)
    label2id = {label: i for i, label in enumerate(labels)}
    train = load_or_tokenize(
        run, tokenizer, label2id, config.model, model_limit=limit, use_cache=False, write=False
    ).train
    rows = train.select_columns(["input_ids", "attention_mask", "labels"]).to_list()
    by_length = np.argsort(train["length"], kind="stable")
    collate = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=LENGTH_MULTIPLE)
    largest = max(variant.batch_size for variant in variants)
    starts = np.random.default_rng(config.train.seed).integers(
        0, len(rows) - largest, WARMUP_STEPS + options.steps
    )
    for index, start in enumerate(starts):
        for variant in variants:
            batch = collate([rows[i] for i in by_length[start : start + variant.batch_size]])
            began = time.perf_counter()
            step(variant, batch)
            if index >= WARMUP_STEPS:
                variant.seconds += time.perf_counter() - began
                variant.rows += variant.batch_size
            else:
                variant.warmup_seconds += time.perf_counter() - began
    base = variants[0].rows / variants[0].seconds
    print(f"{'variant':42} {'rows/s':>8} {'ratio':>6} {'warm-up s':>9}")
    for variant in variants:
        speed = variant.rows / variant.seconds
        print(f"{variant.name:42} {speed:8.2f} {speed / base:6.3f} {variant.warmup_seconds:9.1f}")


if __name__ == "__main__":
    main()
