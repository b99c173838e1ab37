"""The report's figures, drawn with matplotlib from the run's own files and saved as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from domaintune.rundir import atomic_path

DPI = 110


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI, format="png")
    plt.close(figure)
    return path


def class_balance(card: dict[str, Any], path: Path) -> Path:
    """Rows per class as read, after cleaning, and in the training split as trained on."""
    labels = card["labels"]
    stages = {
        "as read": card["classes"]["raw"],
        "after cleaning": card["classes"]["clean"],
        "training split": card["splits"]["train"],
    }
    figure, axis = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(stages)
    positions = np.arange(len(labels))
    for offset, (name, counts) in enumerate(stages.items()):
        values = [counts.get(label, 0) for label in labels]
        axis.bar(positions + offset * width, values, width, label=name)
    axis.set_xticks(positions + width * (len(stages) - 1) / 2, labels, rotation=20, ha="right")
    axis.set_ylabel("rows")
    axis.set_title("Class balance before and after preparation")
    axis.legend()
    return _save(figure, path)


def text_lengths(splits: dict[str, pd.DataFrame], path: Path) -> Path:
    """Words per text in each split: long tails decide the token limit and the training cost."""
    figure, axis = plt.subplots(figsize=(7, 3.6))
    words = {name: frame["text"].str.split().str.len() for name, frame in splits.items()}
    upper = max(int(series.quantile(0.995)) for series in words.values()) + 1
    bins = np.linspace(0, max(upper, 2), 40)
    for name, series in words.items():
        axis.hist(series.clip(upper=upper), bins=bins, alpha=0.5, label=name, density=True)
    axis.set_xlabel("words per text")
    axis.set_ylabel("share of texts")
    axis.set_title("Text lengths by split")
    axis.legend()
    return _save(figure, path)


def learning_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """Training loss by epoch, validation loss and macro-F1 at each evaluation."""
    train = [(h["epoch"], h["loss"]) for h in history if "loss" in h and "eval_loss" not in h]
    evals = [h for h in history if "eval_macro_f1" in h]
    figure, (loss_axis, f1_axis) = plt.subplots(1, 2, figsize=(9, 3.6))
    if train:
        loss_axis.plot(*zip(*train), label="training loss")
    if evals:
        loss_axis.plot(
            [h["epoch"] for h in evals],
            [h["eval_loss"] for h in evals],
            "o-",
            label="validation loss",
        )
        f1_axis.plot(
            [h["epoch"] for h in evals],
            [h["eval_macro_f1"] for h in evals],
            "o-",
            color="tab:green",
        )
    loss_axis.set_xlabel("epoch")
    loss_axis.set_title("Loss")
    loss_axis.legend()
    f1_axis.set_xlabel("epoch")
    f1_axis.set_title("Validation macro-F1")
    return _save(figure, path)


def confusion(matrix: list[list[int]], labels: list[str], path: Path) -> Path:
    """Counts, and each row's share: how the test texts of each true class were labelled."""
    counts = np.array(matrix)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.8 * len(labels) + 2.5)
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if shares[i, j] > 0.5 else "black"
            axis.text(
                j,
                i,
                f"{counts[i, j]}\n{shares[i, j]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=9,
            )
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title("Confusion matrix (test split)")
    return _save(figure, path)
