"""What the train log says about the next training: epochs, the token limit and cut texts.

Shared by the reports of every objective; each sentence is computed from train_log.json.
"""

from __future__ import annotations

import math

from domaintune.runfiles import TrainLog

TRUNCATED_SHARE = 0.01
"""A share of cut training texts above this earns a suggestion."""
EPOCH_TOLERANCE = 0.01
"""Epochs in train_log.json this close count as the same (the Trainer may round them to 2 places)."""
TOKEN_LIMIT_SOURCES = {
    "percentile": "percentile {max_length_percentile:g} of the training texts' token lengths",
    "configured": "the configured `model.max_length`",
    "model": "the most the model accepts",
    "floor": "the least domaintune allows",
}
"""What set the token limit (train_log.json's max_length_set_by), in words."""


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def model_choice(log: TrainLog) -> str:
    """How `model: auto` chose the model, in words; empty when the config named it."""
    choice = log.model_choice
    if choice is None or choice.reason == "set in the config":
        return ""
    others = "; ".join(
        f"`{probe.model}` {probe.rows_per_second:g} rows/s, about {probe.estimated_seconds:.0f} s"
        for probe in choice.probes
        if probe.model != choice.model
    )
    timed = " (timed on a few training batches before training" if choice.probes else ""
    if others:
        timed += f"; also timed: {others}"
    return f"chosen by `model.name_or_path: auto`: {choice.reason}{timed}{')' if timed else ''}"


def token_limit(log: TrainLog) -> str:
    """What set the token limit, in words.

    Read from the log, not the config: the limit may have come from the data, the configuration,
    the model or the floor, and only train knew which.
    """
    words = TOKEN_LIMIT_SOURCES[log.max_length_set_by]
    return words.format(max_length_percentile=log.max_length_percentile)


def epochs_step(log: TrainLog, score: str = "macro-F1") -> str | None:
    """What the epoch of the best validation score says about the number of epochs.

    None when train logged no validation score. `score`: the one train kept the best epoch by.
    """
    best, run, planned = log.best_epoch, log.epochs_run, log.epochs_planned
    if best is None:
        return None
    cut = log.model_choice is not None and log.model_choice.cut_by_budget
    if math.isclose(best, run, abs_tol=EPOCH_TOLERANCE) and cut:
        return (
            f"Validation {score} was still at its best in the last epoch ({run:.2f}, all that the "
            f"{log.model_choice.time_budget:g} s `train.time_budget` allowed here): a larger "
            "budget, or a faster machine, would likely give a better model."
        )
    if math.isclose(best, run, abs_tol=EPOCH_TOLERANCE):
        return (
            f"Validation {score} was still at its best in the last epoch ({run:g} of "
            f"{planned:g}): try more epochs (`--set train.epochs=...`)."
        )
    if log.stopped_early:
        return (
            f"Validation {score} peaked at epoch {best:g}, and training stopped early at epoch "
            f"{run:g} of {planned:g}: more epochs would not help; more data or another learning "
            "rate might."
        )
    return (
        f"Validation {score} peaked at epoch {best:g} and did not improve in the {run - best:g} "
        f"epochs after it (all {planned:g} planned epochs ran): fewer epochs, or early stopping "
        "(`train.early_stopping_patience`), would give the same model sooner."
    )


def truncation_step(log: TrainLog, share: float) -> str | None:
    """Advice on texts longer than the token limit, which depends on what set the limit and how
    they were read; none when few were (`TRUNCATED_SHARE`) or they were read whole, in windows
    (`model.long_text: chunks`)."""
    if share <= TRUNCATED_SHARE or log.long_text == "chunks":
        return None
    longer = f"{percent(share)} of training texts were"
    if log.max_length_set_by != "model":
        return (
            f"{longer} cut at {log.max_length} tokens: raise `model.max_length_percentile` or "
            "`model.max_length` if their ends matter."
        )
    if log.long_text == "head_tail":
        return (
            f"{longer} longer than {log.max_length} tokens, the most the model accepts, and read "
            "by their start and end alone: `model.long_text: chunks` reads each whole, in "
            "overlapping windows (training takes up to `model.max_chunks` windows a text)."
        )
    return (
        f"{longer} cut at {log.max_length} tokens, the most the model accepts, so the model never "
        "read their ends: `model.long_text: chunks` reads each whole, in overlapping windows "
        "(training takes up to `model.max_chunks` windows a text), and `head_tail` reads each "
        "one's start and end in the time truncating takes."
    )
