"""Training throughput: rows, real tokens and padded tokens per second, epoch by epoch.

Real tokens are the ones the attention mask keeps; padded tokens are every position the model
computes, padding included, so their ratio is the share of compute spent on padding. Time runs from
the start to the end of each epoch's training steps: evaluation and checkpoints are not in it.
Under distributed training the counts of all processes are summed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import torch
from accelerate.utils import reduce
from transformers import Trainer, TrainerCallback


@dataclass
class Counts:
    rows: int = 0
    tokens: int = 0
    padded_tokens: int = 0


class ThroughputCallback(TrainerCallback):
    """Times each epoch's training steps and records what they processed."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.epochs: list[dict[str, Any]] = []
        self._started = 0.0
        self._at_start = Counts()

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._at_start = replace(self.counts)
        self._started = time.perf_counter()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        seconds = time.perf_counter() - self._started
        done = torch.tensor(
            [
                self.counts.rows - self._at_start.rows,
                self.counts.tokens - self._at_start.tokens,
                self.counts.padded_tokens - self._at_start.padded_tokens,
            ],
            dtype=torch.float64,
        )
        rows, tokens, padded = (int(value) for value in reduce(done, "sum").tolist())
        self.epochs.append(
            {
                "epoch": round(float(state.epoch), 2),
                "seconds": round(seconds, 2),
                "rows": rows,
                "tokens": tokens,
                "padded_tokens": padded,
            }
        )


class MeasuredTrainer(Trainer):
    """The Transformers Trainer, counting the rows and tokens of every training batch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts = Counts()
        self.throughput = ThroughputCallback(self.counts)
        self.add_callback(self.throughput)

    def training_step(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        self.counts.rows += int(ids.shape[0])
        self.counts.padded_tokens += int(ids.numel())
        self.counts.tokens += int(mask.sum()) if mask is not None else int(ids.numel())
        return super().training_step(model, inputs, num_items_in_batch)


def summarize(epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rates over the epochs this process trained (after a resume: the resumed ones)."""
    seconds = sum(epoch["seconds"] for epoch in epochs)
    rows = sum(epoch["rows"] for epoch in epochs)
    tokens = sum(epoch["tokens"] for epoch in epochs)
    padded = sum(epoch["padded_tokens"] for epoch in epochs)
    return {
        "step_seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds, 2) if seconds else None,
        "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
        "padded_tokens_per_second": round(padded / seconds, 1) if seconds else None,
        "padded_tokens_per_token": round(padded / tokens, 3) if tokens else None,
        "throughput_by_epoch": epochs,
    }
