"""The report's figures, drawn with matplotlib from the run's own files and saved as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve

from domaintune.rundir import atomic_path
from domaintune.runfiles import DataCard, Interval, LabelingCurve, LengthBucket, ReliabilityBin

DPI = 110


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI, format="png")
    plt.close(figure)
    return path


def class_balance(card: DataCard, path: Path) -> Path:
    """Rows per class as read, after cleaning, and in the training split as trained on."""
    labels = card.labels
    stages = {
        "as read": card.classes.raw,
        "after cleaning": card.classes.clean,
        "training split": card.splits["train"],
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
    words = {  # an empty split (cross-validation's validation and test) has no lengths to draw
        name: frame["text"].str.split().str.len() for name, frame in splits.items() if len(frame)
    }
    upper = max(int(series.quantile(0.995)) for series in words.values()) + 1
    bins = np.linspace(0, max(upper, 2), 40)
    for name, series in words.items():
        axis.hist(series.clip(upper=upper), bins=bins, alpha=0.5, label=name, density=True)
    axis.set_xlabel("words per text")
    axis.set_ylabel("share of texts")
    axis.set_title("Text lengths by split")
    axis.legend()
    return _save(figure, path)


def learning_curves(
    history: list[dict[str, Any]], path: Path, *, score: str = "macro_f1", name: str = "macro-F1"
) -> Path:
    """Training loss by epoch, validation loss and the validation `score` (train's key for it,
    e.g. rmse; `name`: in words) at each evaluation."""
    train = [(h["epoch"], h["loss"]) for h in history if "loss" in h and "eval_loss" not in h]
    evals = [h for h in history if f"eval_{score}" in h]
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
            [h[f"eval_{score}"] for h in evals],
            "o-",
            color="tab:green",
        )
    loss_axis.set_xlabel("epoch")
    loss_axis.set_title("Loss")
    loss_axis.legend()
    f1_axis.set_xlabel("epoch")
    f1_axis.set_title(f"Validation {name}")
    return _save(figure, path)


def confusion(matrix: list[list[int]], labels: list[str], path: Path, *, normalise: bool) -> Path:
    """Raw counts, or each true class's row as shares: how the test texts of each class were labelled."""
    counts = np.array(matrix)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.8 * len(labels) + 2.5)
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    shown = shares if normalise else counts
    axis.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else max(int(counts.max()), 1))
    for i in range(len(labels)):
        for j in range(len(labels)):
            text = f"{shares[i, j]:.0%}" if normalise else str(counts[i, j])
            colour = "white" if shares[i, j] > 0.5 else "black"
            axis.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    kind = "share of each true class" if normalise else "test rows"
    axis.set_title(f"Confusion matrix ({kind})")
    return _save(figure, path)


def per_class_f1(labels: list[str], f1: list[float], intervals: list[Interval], path: Path) -> Path:
    """Each class's test F1 with its bootstrap interval: which classes are surely weak."""
    values = np.array(f1)
    errors = np.abs(np.array(intervals).T - values)
    figure, axis = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.8))
    positions = np.arange(len(labels))
    axis.barh(positions, values, xerr=errors, capsize=4, color="tab:blue", alpha=0.8)
    axis.set_yticks(positions, labels)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_xlabel("F1 on the test split (bar: estimate; whiskers: interval)")
    axis.set_title("Per-class F1")
    return _save(figure, path)


def reliability(
    before: list[ReliabilityBin], after: list[ReliabilityBin], temperature: float, path: Path
) -> Path:
    """Mean confidence against accuracy per confidence bin, before and after temperature scaling.

    A calibrated model's points lie on the diagonal; the marker area shows how many rows a bin has.
    """
    figure, axis = plt.subplots(figsize=(5.2, 4.6))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    for name, bins, marker in (
        ("before scaling", before, "o-"),
        (f"after scaling (T = {temperature:.2f})", after, "s-"),
    ):
        axis.plot([b.confidence for b in bins], [b.accuracy for b in bins], marker, label=name)
    _unit_square(
        axis,
        xlabel="mean top probability in bin",
        ylabel="accuracy in bin",
        title="Reliability diagram (test split)",
        legend="upper left",
    )
    return _save(figure, path)


def precision_recall(predictions: pd.DataFrame, labels: list[str], path: Path) -> Path:
    """Per-class precision against recall as the threshold on that class's probability moves."""
    figure, axis = plt.subplots(figsize=(6, 4.6))
    for label in labels:
        actual = (predictions["label"] == label).to_numpy()
        if not actual.any():
            continue
        precision, recall, _ = precision_recall_curve(actual, predictions[f"p_{label}"])
        axis.step(recall, precision, where="post", label=label)
    _unit_square(
        axis,
        xlabel="recall",
        ylabel="precision",
        title="Precision-recall curves (test split)",
        legend="lower left",
    )
    return _save(figure, path)


def length_buckets(buckets: list[LengthBucket], path: Path) -> Path:
    """Accuracy and macro-F1 by words per text, with how many test rows each bucket holds."""
    names = [
        f"{b.min_words}"
        + (f"-{b.max_words}" if b.max_words != b.min_words else "")
        + f"\n({b.rows} rows)"
        for b in buckets
    ]
    positions = np.arange(len(buckets))
    figure, axis = plt.subplots(figsize=(7, 3.6))
    axis.bar(positions - 0.2, [b.accuracy for b in buckets], 0.4, label="accuracy")
    axis.bar(positions + 0.2, [b.macro_f1 for b in buckets], 0.4, label="macro-F1")
    axis.set_xticks(positions, names)
    axis.set_ylim(0, 1.05)
    axis.set_xlabel("words per text")
    axis.set_title("Test scores by text length")
    axis.legend(loc="lower right")
    return _save(figure, path)


def target_distribution(splits: dict[str, pd.DataFrame], path: Path) -> Path:
    """regression: the true values in each split, which the splits should share."""
    figure, axis = plt.subplots(figsize=(7, 3.6))
    values = {name: frame["label"].to_numpy(dtype=float) for name, frame in splits.items()}
    distinct = np.unique(np.concatenate(list(values.values())))
    if len(distinct) <= 30:  # few values (a rating): a bar each, not bins that split them
        bins = np.append(distinct - 0.5, distinct[-1] + 0.5) if len(distinct) > 1 else 1
    else:
        bins = 30
    for name, series in values.items():
        axis.hist(series, bins=bins, alpha=0.5, label=name, density=True)
    axis.set_xlabel("true value")
    axis.set_ylabel("share of rows")
    axis.set_title("Target by split")
    axis.legend()
    return _save(figure, path)


def predicted_against_true(predictions: pd.DataFrame, path: Path) -> Path:
    """regression: each test row's prediction against its true value, with the diagonal where a
    perfect model's points lie and the mean prediction per true value (or bucket of them)."""
    gold, predicted = predictions["label"].to_numpy(), predictions["predicted"].to_numpy()
    figure, axis = plt.subplots(figsize=(5.2, 4.8))
    low, high = min(gold.min(), predicted.min()), max(gold.max(), predicted.max())
    axis.plot([low, high], [low, high], color="grey", linestyle="--", label="perfect")
    jitter, bucket = 0.0, gold
    if len(np.unique(gold)) <= 30:  # few values: spread the points to show how many
        jitter = 0.15 * np.random.default_rng(0).uniform(-1, 1, len(gold))
    else:
        bucket = pd.qcut(gold, 10, labels=False, duplicates="drop")
    axis.scatter(gold + jitter, predicted, s=8, alpha=0.4, label="test rows")
    means = pd.DataFrame({"gold": gold, "predicted": predicted}).groupby(bucket).mean()
    axis.plot(means["gold"], means["predicted"], "o-", color="tab:red", label="mean prediction")
    axis.set_xlabel("true value")
    axis.set_ylabel("predicted value")
    axis.set_title("Predicted against true (test split)")
    axis.legend(loc="upper left")
    return _save(figure, path)


def _unit_square(axis: plt.Axes, *, xlabel: str, ylabel: str, title: str, legend: str) -> None:
    """Axes for two shares (probabilities, rates): each from 0 to just past 1, labelled."""
    axis.set_xlim(0, 1.02)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(loc=legend)


def labeling_curve(curve: LabelingCurve, path: Path) -> Path:
    """Test macro-F1 against labels spent: the labeling loop and random picks, the mean over
    seeds with their spread."""
    figure, axis = plt.subplots(figsize=(7, 3.6))
    for name, values in (("labeling loop", curve.loop), ("random picks", curve.random)):
        scores = np.array(values)
        axis.errorbar(
            curve.budgets, scores.mean(axis=0), yerr=scores.std(axis=0), marker="o", capsize=3,
            label=name,
        )  # fmt: skip
    axis.set_xscale("log", base=2)
    axis.set_xticks(curve.budgets, [str(b) for b in curve.budgets])
    axis.set_xlabel("labels spent")
    axis.set_ylabel("test macro-F1")
    axis.set_title(f"Labels spent ({len(curve.loop)} seeds; {curve.learner})", fontsize=9)
    axis.legend(loc="lower right")
    return _save(figure, path)
