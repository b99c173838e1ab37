"""The report stage: turn the run directory's files into report.md, report.html and plots/.

Every figure and sentence comes from the files earlier stages wrote (config.yaml, data/card.json,
train_log.json, metrics.json, predictions.parquet), so the report says what happened in this run.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import markdown
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from domaintune.config import Config
from domaintune.report import plots
from domaintune.rundir import RunDir, read_json, write_text

ENVIRONMENT = Environment(
    loader=PackageLoader("domaintune", "report/templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


BASELINE_NAMES = {"majority": "majority class", "tfidf_logreg": "TF-IDF + logistic regression"}

ENVIRONMENT.filters["percent"] = percent
ENVIRONMENT.filters["baseline"] = lambda name: BASELINE_NAMES.get(name, name)
ENVIRONMENT.filters["score"] = lambda value: f"{value:.3f}"


def largest_confusion(matrix: list[list[int]], labels: list[str]) -> dict[str, Any] | None:
    """The off-diagonal cell with the most test rows: which class is most often taken for which."""
    cells = [
        (count, i, j)
        for i, row in enumerate(matrix)
        for j, count in enumerate(row)
        if i != j and count > 0
    ]
    if not cells:
        return None
    count, i, j = max(cells)
    return {
        "true": labels[i],
        "predicted": labels[j],
        "count": count,
        "share": count / max(sum(matrix[i]), 1),
    }


def findings(metrics: dict[str, Any], card: dict[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    """The judgements the report makes, each computed from the run's figures."""
    labels = metrics["labels"]
    per_class = metrics["per_class"]
    ranked = sorted(labels, key=lambda label: per_class[label]["f1-score"])
    low, high = metrics["intervals"]["macro_f1"]
    comparisons = []
    for name, baseline in metrics["baselines"].items():
        base_low, base_high = baseline["intervals"]["macro_f1"]
        comparisons.append(
            {
                "name": name,
                "gain": metrics["macro_f1"] - baseline["macro_f1"],
                "separated": low > base_high or high < base_low,
            }
        )
    errors = 1 - metrics["accuracy"]
    return {
        "weakest": ranked[0],
        "strongest": ranked[-1],
        "confusion": largest_confusion(metrics["confusion_matrix"], labels),
        "comparisons": comparisons,
        "errors_per_1000": round(1000 * errors),
        "test_share": {
            label: per_class[label]["support"] / metrics["test_rows"] for label in labels
        },
        "smallest_class": min(card["classes"]["clean"], key=card["classes"]["clean"].get),
        "truncated_share": log["truncated_rows"] / max(log["train_rows"], 1),
    }


def next_steps(
    metrics: dict[str, Any], card: dict[str, Any], log: dict[str, Any], found: dict[str, Any]
) -> list[str]:
    """Suggestions for the next iteration, each triggered by a weakness this run showed."""
    weakest = found["weakest"]
    weakest_f1 = metrics["per_class"][weakest]["f1-score"]
    train_rows = card["splits"]["train"].get(weakest, 0)
    steps = [
        f"Collect more examples of '{weakest}', the weakest class (test F1 {weakest_f1:.3f}, "
        f"{train_rows} training rows): it limits macro-F1 more than any other class."
    ]
    confusion = found["confusion"]
    if confusion:
        steps.append(
            f"Review texts labelled '{confusion['true']}' that the model calls "
            f"'{confusion['predicted']}' ({confusion['count']} test rows, "
            f"{percent(confusion['share'])} of that class): if the boundary is unclear to people "
            "too, write a labelling guideline or merge the classes."
        )
    if not log["stopped_early"]:
        steps.append(
            f"Validation macro-F1 was still at its best in the last epoch ({log['epochs_run']:g} of "
            f"{log['epochs_planned']:g}): try more epochs (`--set train.epochs=...`)."
        )
    if found["truncated_share"] > 0.01:
        steps.append(
            f"{percent(found['truncated_share'])} of training texts were cut at {log['max_length']} "
            "tokens: raise `model.max_length_percentile` or `model.max_length` if their ends matter."
        )
    tfidf = next((c for c in found["comparisons"] if c["name"] == "tfidf_logreg"), None)
    if tfidf and not tfidf["separated"]:
        steps.append(
            "The fine-tuned model is not clearly ahead of TF-IDF with logistic regression (their "
            "intervals overlap): try a larger pre-trained model, or keep the cheaper baseline."
        )
    conflicts = next((s for s in card["steps"] if s["name"] == "conflicts"), None)
    if conflicts and conflicts["changed"]:
        steps.append(
            f"{conflicts['changed']} rows shared their text with a row of another label: "
            "label noise of this kind caps the reachable score; audit the labels."
        )
    return steps


def draw_plots(run: RunDir, card: dict, log: dict, metrics: dict) -> dict[str, str]:
    splits = {name: pd.read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    drawn = {
        "class_balance": plots.class_balance(card, run.plots / "class_balance.png"),
        "text_lengths": plots.text_lengths(splits, run.plots / "text_lengths.png"),
        "learning_curves": plots.learning_curves(log["history"], run.plots / "learning_curves.png"),
        "confusion_matrix": plots.confusion(
            metrics["confusion_matrix"], metrics["labels"], run.plots / "confusion_matrix.png"
        ),
    }
    return {name: path.relative_to(run.root).as_posix() for name, path in drawn.items()}


def embed_images(html: str, root: Path) -> str:
    """Inline every local PNG as a data URI, so report.html is one self-contained file."""

    def inline(match: re.Match) -> str:
        data = base64.b64encode((root / match.group(1)).read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    return re.sub(r'src="([^"]+\.png)"', inline, html)


def run_report(config: Config, run: RunDir) -> list[Path]:
    """Write plots/, report.md and report.html from the run's files."""
    run.require(run.card, stage="prepare")
    run.require(run.train_log, stage="train")
    run.require(run.metrics, run.predictions, stage="evaluate")
    run.clear_from("report")
    card, log, metrics = read_json(run.card), read_json(run.train_log), read_json(run.metrics)
    predictions = pd.read_parquet(run.predictions)
    found = findings(metrics, card, log)
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    probability_columns = [f"p_{label}" for label in metrics["labels"]]
    confident_mistakes = (
        wrong.assign(confidence=wrong[probability_columns].max(axis=1))
        .sort_values("confidence", ascending=False)
        .head(config.report.examples)
        .to_dict("records")
    )
    context = {
        "config": config,
        "title": config.report.title or config.task.name,
        "card": card,
        "log": log,
        "metrics": metrics,
        "found": found,
        "next_steps": next_steps(metrics, card, log, found),
        "mistakes": confident_mistakes,
        "plots": draw_plots(run, card, log, metrics),
        "model_dir": run.model.as_posix(),
    }
    text = ENVIRONMENT.get_template("report.md.j2").render(context)
    write_text(run.report_md, text)
    body = markdown.markdown(text, extensions=["tables", "sane_lists"])
    page = ENVIRONMENT.get_template("report.html.j2").render(title=context["title"], body=body)
    write_text(run.report_html, embed_images(page, run.root))
    return [run.report_md, run.report_html, run.plots]
