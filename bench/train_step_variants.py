"""What each training default buys: rows/s of one training step under each variant, side by side.

Every variant is a model of its own, trained on the same real batches of the prepared training
split (groups of rows of similar length, padded to a multiple of 8, as `train` batches them), one
step of each variant in turn, so that a noisy machine slows all of them alike. A step is what the
Trainer does: forward, backward, gradient clipping to norm 1, fused AdamW. Prints rows/s and the
ratio to the first variant.

Variants (any combination, joined by '+'): base (the model's dropout, all weights trained, batch
16), freeze (word embeddings frozen), nodrop (dropout 0), b32 (batch 32).

    python bench/train_step_variants.py                 # default task, 40 steps of each variant
    python bench/train_step_variants.py --steps 5 --variants base,freeze+nodrop+b32
"""

from __future__ import annotations

import argparse
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
from domaintune.models import load_classifier, load_tokenizer
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard
from domaintune.train.hardware import apply_threads
from domaintune.train.tokencache import LENGTH_MULTIPLE, load_or_tokenize
from domaintune.train.trainer import freeze_word_embeddings, model_length_limit

DEFAULT_VARIANTS = "base,freeze,nodrop,freeze+nodrop,b32,freeze+nodrop+b32"
WARMUP_STEPS = 3
"""Steps of each variant not timed: the first ones allocate memory and warm caches."""


@dataclass
class Variant:
    name: str
    model: torch.nn.Module
    trained: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    batch_size: int
    seconds: float = 0.0
    rows: int = 0


def build(name: str, source: str, labels: list[str]) -> Variant:
    parts = set(name.split("+"))
    unknown = parts - {"base", "freeze", "nodrop", "b32"}
    if unknown:
        raise SystemExit(f"unknown variant part(s) {sorted(unknown)} in '{name}'")
    model = load_classifier(
        source, labels=labels, dropout=0.0 if "nodrop" in parts else None
    ).train()
    if "freeze" in parts:
        freeze_word_embeddings(model)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-4, weight_decay=0.01, fused=True)
    return Variant(name, model, trained, optimizer, 32 if "b32" in parts else 16)


def step(variant: Variant, batch: dict[str, torch.Tensor]) -> None:
    variant.model(**batch).loss.backward()
    torch.nn.utils.clip_grad_norm_(variant.trained, 1.0)
    variant.optimizer.step()
    variant.optimizer.zero_grad(set_to_none=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="config name or YAML (default task)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-train"))
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    parser.add_argument("--steps", type=int, default=40, help="timed steps of each variant")
    options = parser.parse_args(argv)
    quiet_libraries()
    config = load_config(options.config, [])
    apply_threads(config.train.threads)
    run = RunDir(options.out)
    if not run.card.is_file():
        run_prepare(config, run)
    labels = DataCard.read(run.card).labels
    source = assets.model_path(config.model.name_or_path)
    tokenizer = load_tokenizer(source)
    set_seed(config.train.seed)
    variants = [build(name, source, labels) for name in options.variants.split(",")]
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
    base = variants[0].rows / variants[0].seconds
    print(f"{'variant':24} {'rows/s':>8} {'ratio':>6}")
    for variant in variants:
        speed = variant.rows / variant.seconds
        print(f"{variant.name:24} {speed:8.2f} {speed / base:6.3f}")


if __name__ == "__main__":
    main()
