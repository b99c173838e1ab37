"""What train_log.json records of every training, classifier or causal language model alike: the
settings it used and how the run went. Each trainer adds what only it knows."""

from __future__ import annotations

from typing import Any

from domaintune.config import Config
from domaintune.train.throughput import MeasuredTrainer, summarize


def settings_used(config: Config, parameters: tuple[int, int]) -> dict[str, Any]:
    """The model and optimisation settings, and `parameters` (trainable, all)."""
    options = config.train
    trainable, total = parameters
    return {
        "model": config.model.name_or_path,
        "method": options.method,
        "batch_size": options.batch_size,
        "learning_rate": options.learning_rate,
        "weight_decay": options.weight_decay,
        "warmup_ratio": options.warmup_ratio,
        "seed": options.seed,
        "group_by_length": options.group_by_length,
        "dropout": options.dropout,
        "freeze_embeddings": options.freeze_embeddings,
        "freeze_layers": options.freeze_layers,
        "parameters": total,
        "trainable_parameters": trainable,
        "max_length_percentile": config.model.max_length_percentile,
        "epochs_planned": options.epochs,
    }


def how_it_ran(trainer: MeasuredTrainer, *, seconds: float, threads: int) -> dict[str, Any]:
    """Time, throughput, precision, attention, device, processes, threads and the history."""
    return {
        "train_seconds": round(seconds, 1),
        **summarize(trainer.throughput.epochs),
        "precision": "bf16" if trainer.args.bf16 else "fp32",
        "attention": trainer.model.config._attn_implementation,
        "device": str(trainer.args.device),
        "processes": trainer.args.world_size,
        "torch_threads": threads,
        "history": trainer.state.log_history,
    }
