"""The report stage: turn the run directory's files into report.md, report.html and plots/.

Every figure and sentence comes from the files earlier stages wrote (config.yaml, data/card.json,
data/label_audit.parquet when prepare ran an audit, train_log.json, metrics.json,
predictions.parquet), so the report says what happened in this run.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import markdown
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from domaintune.analysis import audited_mistakes, confident_mistakes, confused_pairs
from domaintune.config import Config
from domaintune.errors import UserError
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


BASELINE_NAMES = {
    "majority": "majority class",
    "tfidf_logreg": "TF-IDF + logistic regression",
    "linear_probe": "linear probe on the frozen pre-trained model",
}
AUDIT_COLUMNS = {"split", "text", "label", "suggested_label", "label_quality"}
CONFUSED_PAIRS = 3
"""How many of the most frequent (true, predicted) mistakes the error analysis shows."""
LENGTH_GAP = 0.1
"""A length bucket this far below the overall macro-F1 earns a suggestion."""
CALIBRATION_GAP = 0.05
"""An ECE above this after scaling earns a warning that probabilities are not exact risks."""


def baseline_name(name: str) -> str:
    return BASELINE_NAMES.get(name, name)


ENVIRONMENT.filters["percent"] = percent
ENVIRONMENT.filters["baseline"] = baseline_name
ENVIRONMENT.filters["score"] = lambda value: f"{value:.3f}"
ENVIRONMENT.filters["pvalue"] = lambda value: f"{value:.3g}" if value >= 0.001 else "< 0.001"
ENVIRONMENT.filters["cell"] = lambda text, width=140: (
    " ".join(str(text).split())[:width].replace("|", "/").replace("`", "'").replace("<", "&lt;")
)


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
    comparisons = [
        {
            "name": name,
            "gain": test["macro_f1_difference"],
            "verdict": test["verdict"],
            "significant": test["verdict"] != "not significant",
        }
        for name, test in metrics["significance"].items()
    ]
    errors = 1 - metrics["accuracy"]
    buckets = metrics["by_length"]
    weakest_bucket = min(buckets, key=lambda b: b["macro_f1"]) if len(buckets) > 1 else None
    return {
        "weakest": ranked[0],
        "strongest": ranked[-1],
        "confusion": largest_confusion(metrics["confusion_matrix"], labels),
        "comparisons": comparisons,
        "beats_all": bool(comparisons) and all(c["verdict"] == "better" for c in comparisons),
        "errors_per_1000": round(1000 * errors),
        "test_share": {
            label: per_class[label]["support"] / metrics["test_rows"] for label in labels
        },
        "smallest_class": min(card["classes"]["clean"], key=card["classes"]["clean"].get),
        "truncated_share": log["truncated_rows"] / max(log["train_rows"], 1),
        "weakest_bucket": weakest_bucket,
    }


def next_steps(
    metrics: dict[str, Any],
    card: dict[str, Any],
    log: dict[str, Any],
    found: dict[str, Any],
    audited: int | None,
) -> list[str]:
    """Suggestions for the next iteration, each triggered by a weakness this run showed.

    `audited` is how many test mistakes the label audit also doubted (None: no audit was run).
    """
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
    for comparison in found["comparisons"]:
        if comparison["name"] != "majority" and comparison["verdict"] != "better":
            steps.append(
                f"The fine-tuned model is not significantly better than the "
                f"{baseline_name(comparison['name'])} baseline (paired tests on the test split): "
                "try a larger pre-trained model or more data, or deploy the cheaper baseline."
            )
    if audited:
        steps.append(
            f"{audited} of the model's test mistakes are on rows the label audit also doubts: "
            "have their labels checked; fixing label noise raises the reachable score."
        )
    audit = card.get("label_audit", {})
    if audit.get("likely_errors") and audit.get("mode") == "flag":
        audited_rows = next(s["rows_before"] for s in card["steps"] if s["name"] == "label_audit")
        steps.append(
            f"The label audit counts {audit['likely_errors']} labels "
            f"({percent(audit['likely_errors'] / audited_rows)}) as likely wrong: relabel the top "
            "of data/label_audit.parquet, or try `--set prepare.label_audit=drop`, and compare runs."
        )
    conflicts = next((s for s in card["steps"] if s["name"] == "conflicts"), None)
    if conflicts and conflicts["changed"]:
        steps.append(
            f"{conflicts['changed']} rows shared their text with a row of another label: "
            "label noise of this kind caps the reachable score; audit the labels."
        )
    bucket = found["weakest_bucket"]
    if bucket and metrics["macro_f1"] - bucket["macro_f1"] > LENGTH_GAP:
        steps.append(
            f"Texts of {bucket['min_words']}-{bucket['max_words']} words score lowest (macro-F1 "
            f"{bucket['macro_f1']:.3f} against {metrics['macro_f1']:.3f} overall): add training "
            "examples of that length."
        )
    if metrics["calibration"]["ece_after"] > CALIBRATION_GAP:
        steps.append(
            f"Probabilities are still off by {metrics['calibration']['ece_after']:.3f} (ECE) after "
            "temperature scaling: do not read them as exact risks; a larger validation split helps."
        )
    return steps


def draw_plots(
    run: RunDir, card: dict, log: dict, metrics: dict, predictions: pd.DataFrame
) -> dict[str, str]:
    splits = {name: pd.read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    labels, folder, calibrated = metrics["labels"], run.plots, metrics["calibration"]
    drawn = {
        "class_balance": plots.class_balance(card, folder / "class_balance.png"),
        "text_lengths": plots.text_lengths(splits, folder / "text_lengths.png"),
        "learning_curves": plots.learning_curves(log["history"], folder / "learning_curves.png"),
        "confusion_counts": plots.confusion(
            metrics["confusion_matrix"], labels, folder / "confusion_counts.png", normalise=False
        ),
        "confusion_shares": plots.confusion(
            metrics["confusion_matrix"], labels, folder / "confusion_shares.png", normalise=True
        ),
        "per_class_f1": plots.per_class_f1(
            labels,
            [metrics["per_class"][label]["f1-score"] for label in labels],
            [metrics["intervals"][f"f1[{label}]"] for label in labels],
            folder / "per_class_f1.png",
        ),
        "reliability": plots.reliability(
            calibrated["reliability_before"],
            calibrated["reliability_after"],
            calibrated["temperature"],
            folder / "reliability.png",
        ),
        "precision_recall": plots.precision_recall(
            predictions, labels, folder / "precision_recall.png"
        ),
        "length_buckets": plots.length_buckets(metrics["by_length"], folder / "length_buckets.png"),
    }
    return {name: path.relative_to(run.root).as_posix() for name, path in drawn.items()}


def read_audit(run: RunDir) -> pd.DataFrame | None:
    """The prepare stage's label audit, or None when it did not run one."""
    if not run.label_audit.is_file():
        return None
    audit = pd.read_parquet(run.label_audit)
    missing = AUDIT_COLUMNS - set(audit.columns)
    if missing:
        raise UserError(
            f"{run.label_audit} lacks columns {', '.join(sorted(missing))}: run prepare again"
        )
    return audit


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
    if "calibration" not in metrics:
        raise UserError(
            f"{run.metrics} was written by an older domaintune: run "
            f"`domaintune evaluate --out {run.root}` again"
        )
    predictions = pd.read_parquet(run.predictions)
    labels, shown = metrics["labels"], config.report.examples
    audited = audited_mistakes(predictions, read_audit(run))
    found = findings(metrics, card, log)
    context = {
        "config": config,
        "title": config.report.title or config.task.name,
        "card": card,
        "log": log,
        "metrics": metrics,
        "found": found,
        "next_steps": next_steps(
            metrics, card, log, found, None if audited is None else len(audited)
        ),
        "mistakes": confident_mistakes(predictions, labels, shown).to_dict("records"),
        "pairs": confused_pairs(predictions, labels, CONFUSED_PAIRS, min(shown, 3)),
        "audited": None if audited is None else audited.head(shown).to_dict("records"),
        "audited_count": None if audited is None else len(audited),
        "plots": draw_plots(run, card, log, metrics, predictions),
        "model_dir": run.model.as_posix(),
    }
    text = ENVIRONMENT.get_template("report.md.j2").render(context)
    write_text(run.report_md, text)
    body = markdown.markdown(text, extensions=["tables", "sane_lists"])
    page = ENVIRONMENT.get_template("report.html.j2").render(title=context["title"], body=body)
    write_text(run.report_html, embed_images(page, run.root))
    return [run.report_md, run.report_html, run.plots]
