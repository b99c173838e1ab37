"""The report's choices for task.objective multi_label: its template and what fills it.

The same sources as the classification report (the run directory's files alone); the sections
differ: set scores with intervals, a per-label table with thresholds, baselines with a paired
bootstrap of micro-F1, label co-occurrence, and texts whose predicted set is wrong. No confusion
matrix, calibration or decision sections: those are single-label ideas.
"""

from __future__ import annotations

from typing import Any

from domaintune.config import Config
from domaintune.report import plots
from domaintune.rundir import RunDir, read_parquet
from domaintune.runfiles import DataCard, MultiLabelMetrics, TrainLog

TEMPLATE = "report_multilabel.md.j2"
BASELINE_NAMES = {
    "majority": "the most frequent label set",
    "tfidf_logreg": "one-vs-rest TF-IDF + logistic regression",
    "linear_probe": "a one-vs-rest linear probe on the frozen pre-trained model",
}
"""evaluate.baselines' names as the multi_label evaluation runs them, in words."""


def multi_label_context(
    config: Config, run: RunDir, card: DataCard, log: TrainLog
) -> dict[str, Any]:
    """What the multi_label template reads, with its plots drawn into plots/."""
    metrics = MultiLabelMetrics.read(run.metrics)
    predictions = read_parquet(run.predictions)
    gold = predictions["label"].map(lambda values: sorted(map(str, values)))
    predicted = predictions["predicted"].map(lambda values: sorted(map(str, values)))
    wrong = predictions.assign(label=gold, predicted=predicted)[gold != predicted]
    labels, folder = metrics.labels, run.plots
    drawn = {
        "class_balance": plots.class_balance(card, folder / "class_balance.png"),
        "learning_curves": plots.learning_curves(log.history, folder / "learning_curves.png"),
        "per_class_f1": plots.per_class_f1(
            labels,
            [metrics.per_label[label].f1 for label in labels],
            [metrics.intervals.f1[label] for label in labels],
            folder / "per_class_f1.png",
        ),
    }
    return {
        "config": config,
        "title": config.report.title or config.task.name,
        "card": card,
        "log": log,
        "metrics": metrics,
        "mistakes": wrong[["text", "label", "predicted"]]
        .head(config.report.examples)
        .to_dict("records"),
        "mistake_count": len(wrong),
        "plots": {name: path.relative_to(run.root).as_posix() for name, path in drawn.items()},
        "model_dir": run.model.as_posix(),
        "baseline_names": BASELINE_NAMES,
    }
