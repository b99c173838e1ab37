"""The report stage: turn the run directory's files into report.md, report.html and plots/.

Every figure and sentence comes from the files earlier stages wrote (config.yaml, data/card.json,
data/label_audit.parquet when prepare ran an audit, train_log.json, metrics.json,
predictions.parquet, and export/parity.json once the model is exported), so the report says what
happened in this run. task.objective multi_label and regression have templates of their own
(`multilabel.py`, `regression.py`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import markdown
import pandas as pd
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from domaintune.config import GENERATIVE, Config
from domaintune.data.card import StepName
from domaintune.evaluate.analysis import (
    audited_mistakes,
    confident_mistakes,
    confused_pairs,
    read_audit,
)
from domaintune.report import generation, multilabel, plots, regression
from domaintune.report.generation import generation_context
from domaintune.report.multilabel import multi_label_context
from domaintune.report.regression import regression_context
from domaintune.report.training import (
    epochs_step,
    model_choice,
    percent,
    token_limit,
    truncation_step,
)
from domaintune.rundir import RunDir, read_parquet, write_text
from domaintune.runfiles import DataCard, ExportParity, LabelingCurve, Metrics, TrainLog
from domaintune.templating import environment

ENVIRONMENT = environment("report/templates")
ENVIRONMENT.filters["model_choice"] = model_choice


BASELINE_NAMES = {
    "majority": "majority class",
    "tfidf_logreg": "TF-IDF + logistic regression",
    "linear_probe": "linear probe on the frozen pre-trained model",
}
EXAMPLES_APART = (StepName.BALANCE, StepName.LABEL_AUDIT)
"""Steps whose examples are not listed with the others': balancing's are class counts, and the
label audit's have a table of their own."""
CONFUSED_PAIRS = 3
"""How many of the most frequent (true, predicted) mistakes the error analysis shows."""
LENGTH_GAP = 0.1
"""A length bucket this far below the overall macro-F1 earns a suggestion."""
CALIBRATION_GAP = 0.05
"""An ECE above this after scaling earns a warning that probabilities are not exact risks."""
LINK_SCHEMES = {"http", "https"}
"""The only links report.html keeps: data can hold Markdown links, e.g. to `javascript:`."""
EMBED_PRIORITY = -1
"""Where the plot-embedding step runs among Markdown's tree steps: after all of its own (>= 0)."""


def baseline_name(name: str) -> str:
    return BASELINE_NAMES.get(name, name)


ENVIRONMENT.filters["percent"] = percent
ENVIRONMENT.filters["baseline"] = baseline_name
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


def findings(metrics: Metrics, card: DataCard, log: TrainLog) -> dict[str, Any]:
    """The judgements the report makes, each computed from the run's figures."""
    labels = metrics.labels
    per_class = metrics.per_class
    ranked = sorted(labels, key=lambda label: per_class[label].f1_score)
    comparisons = [
        {
            "name": name,
            "gain": test.macro_f1_difference,
            "verdict": test.verdict,
            "significant": test.verdict != "not significant",
        }
        for name, test in metrics.significance.items()
    ]
    errors = 1 - metrics.accuracy
    buckets = metrics.by_length
    weakest_bucket = min(buckets, key=lambda b: b.macro_f1) if len(buckets) > 1 else None
    return {
        "weakest": ranked[0],
        "strongest": ranked[-1],
        "confusion": largest_confusion(metrics.confusion_matrix, labels),
        "comparisons": comparisons,
        "beats_all": bool(comparisons) and all(c["verdict"] == "better" for c in comparisons),
        "errors_per_1000": round(1000 * errors),
        "test_share": {label: per_class[label].support / metrics.test_rows for label in labels},
        "smallest_class": min(card.classes.clean, key=card.classes.clean.get),
        "truncated_share": log.truncated_rows / max(log.train_rows, 1),
        "token_limit": token_limit(log),
        "weakest_bucket": weakest_bucket,
    }


HOW_MADE = {"random": "at random, stratified by class", "time": "by time, the latest held out"}


def split_account(card: DataCard) -> str:
    """Where the splits came from, in words: whose they are, how the missing ones were made, and
    how many rows of a fixed held-out split near-duplicated a training row."""
    split = card.split
    rows = ", ".join(f"{name} {count}" for name, count in split.rows.items())
    given = [name for name, how in split.made.items() if how == "given"]
    carved = [name for name, how in split.made.items() if how != "given"]
    if split.method == "cross_validation":
        sentence = (
            f"prepare kept all {split.rows['train']} rows for training, as too few for a test "
            "split that could tell models apart; evaluate scored the method by cross-validation "
            "(see Evaluation results)."
        )
    elif split.method in {"random", "time"}:
        sentence = f"prepare split the rows {HOW_MADE[split.method]}: {rows}."
    else:
        source = (
            f"the split column `{split.split_column}`"
            if split.method == "split_column"
            else "separate files (" + ", ".join(f"{k} `{v}`" for k, v in split.files.items()) + ")"
        )
        sentence = f"the splits come from {source}: {rows}."
        if given:
            sentence += f" Your {' and '.join(given)} rows stay as given: cleaned, never moved."
        if carved:
            sentence += (
                f" {' and '.join(carved).capitalize()} "
                f"{'was' if len(carved) == 1 else 'were'} carved from the training rows "
                f"{HOW_MADE[split.made[carved[0]]]}."
            )
    for name, count in split.near_train_kept.items():
        sentence += (
            f" {count} {name} row{'s' if count > 1 else ''} near-duplicated a training row: "
            "kept, and the training copies dropped."
            if count
            else f" No {name} row near-duplicated a training row."
        )
    if split.time_range:
        ranges = "; ".join(
            f"{name} {first[:10]} to {last[:10]}"
            for name, (first, last) in split.time_range.items()
        )
        sentence += f" Time column `{split.time_column}`: {ranges}."
    for warning in split.warnings:
        sentence += f" Note: {warning}."
    return sentence[0].upper() + sentence[1:]


def next_steps(
    metrics: Metrics,
    card: DataCard,
    log: TrainLog,
    found: dict[str, Any],
    audited: int | None,
) -> list[str]:
    """Suggestions for the next iteration, each triggered by a weakness this run showed.

    `audited` is how many test mistakes the label audit also doubted (None: no audit was run).
    """
    weakest = found["weakest"]
    weakest_f1 = metrics.per_class[weakest].f1_score
    train_rows = card.splits["train"].get(weakest, 0)
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
    epochs = epochs_step(log)
    if epochs:
        steps.append(epochs)
    truncated = truncation_step(log, found["truncated_share"])
    if truncated:
        steps.append(truncated)
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
    audit, audit_step = card.label_audit, card.step(StepName.LABEL_AUDIT)
    if audit.likely_errors and audit.mode == "flag" and audit_step:
        steps.append(
            f"The label audit counts {audit.likely_errors} labels "
            f"({percent(audit.likely_errors / audit_step.rows_before)}) as likely wrong: relabel "
            "the top of data/label_audit.parquet, or try `--set prepare.label_audit=drop`, and "
            "compare runs."
        )
    conflicts = card.step(StepName.CONFLICTS)
    if conflicts and conflicts.changed:
        steps.append(
            f"{conflicts.changed} rows shared their text with a row of another label: "
            "label noise of this kind caps the reachable score; audit the labels."
        )
    bucket = found["weakest_bucket"]
    if bucket and metrics.macro_f1 - bucket.macro_f1 > LENGTH_GAP:
        steps.append(
            f"Texts of {bucket.min_words}-{bucket.max_words} words score lowest (macro-F1 "
            f"{bucket.macro_f1:.3f} against {metrics.macro_f1:.3f} overall): add training "
            "examples of that length."
        )
    if metrics.calibration.ece_after > CALIBRATION_GAP:
        steps.append(
            f"Probabilities are still off by {metrics.calibration.ece_after:.3f} (ECE) after "
            "temperature scaling: do not read them as exact risks; a larger validation split helps."
        )
    return steps


def draw_plots(
    run: RunDir, card: DataCard, log: TrainLog, metrics: Metrics, predictions: pd.DataFrame
) -> dict[str, str]:
    splits = {name: read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    labels, folder, calibrated = metrics.labels, run.plots, metrics.calibration
    drawn = {
        "class_balance": plots.class_balance(card, folder / "class_balance.png"),
        "text_lengths": plots.text_lengths(splits, folder / "text_lengths.png"),
        "learning_curves": plots.learning_curves(log.history, folder / "learning_curves.png"),
        "confusion_counts": plots.confusion(
            metrics.confusion_matrix, labels, folder / "confusion_counts.png", normalise=False
        ),
        "confusion_shares": plots.confusion(
            metrics.confusion_matrix, labels, folder / "confusion_shares.png", normalise=True
        ),
        "per_class_f1": plots.per_class_f1(
            labels,
            [metrics.per_class[label].f1_score for label in labels],
            [metrics.intervals.f1[label] for label in labels],
            folder / "per_class_f1.png",
        ),
        "reliability": plots.reliability(
            calibrated.reliability_before,
            calibrated.reliability_after,
            calibrated.temperature,
            folder / "reliability.png",
        ),
        "precision_recall": plots.precision_recall(
            predictions, labels, folder / "precision_recall.png"
        ),
        "length_buckets": plots.length_buckets(metrics.by_length, folder / "length_buckets.png"),
    }
    return {name: path.relative_to(run.root).as_posix() for name, path in drawn.items()}


def plot_data_uri(source: str, plots: Path) -> str | None:
    """The PNG at `source` (relative to the run folder) as a data URI, if it is one of the plots.

    Anything else (another folder, `..`, a link out of plots/, a missing file) gives None: an
    image written in the data must not make the page carry a file of the machine.
    """
    path = (plots.parent / source).resolve()
    if path.parent != plots.resolve() or path.suffix != ".png" or not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


class EmbedPlots(Treeprocessor):
    """Inline the run's plots, so report.html is one file; drop other images and unsafe links."""

    def __init__(self, md: markdown.Markdown, plots: Path) -> None:
        super().__init__(md)
        self.plots = plots

    def run(self, root: Element) -> None:
        for image in root.iter("img"):
            embedded = plot_data_uri(image.get("src", ""), self.plots)
            if embedded is None:
                image.attrib.pop("src", None)
            else:
                image.set("src", embedded)
        for link in root.iter("a"):
            if urlsplit(link.get("href", "")).scheme not in LINK_SCHEMES:
                link.attrib.pop("href", None)


def markdown_to_html(text: str, plots: Path) -> Markup:
    """report.md as HTML with the plots embedded, and no HTML, script or file taken from the data.

    Label names, task fields and example texts reach report.md as they are; raw HTML in it is
    shown as text, not passed through.
    """
    converter = markdown.Markdown(extensions=["tables", "sane_lists"])
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    converter.treeprocessors.register(EmbedPlots(converter, plots), "embed_plots", EMBED_PRIORITY)
    return Markup(converter.convert(text))  # safe: built without raw HTML above


def teacher_summary(log: TrainLog) -> dict[str, Any] | None:
    """The teacher run a distilled model learnt from: its model and, where it was evaluated,
    its test macro-F1 (a teacher run moved or deleted since still gets named)."""
    if log.distilled_from is None:
        return None
    teacher = RunDir(Path(log.distilled_from))
    summary: dict[str, Any] = {"run": log.distilled_from, "model": None, "macro_f1": None}
    if teacher.train_log.is_file():
        summary["model"] = TrainLog.read(teacher.train_log).model
    if teacher.metrics.is_file():
        summary["macro_f1"] = Metrics.read(teacher.metrics).macro_f1
    return summary


def labeling_summary(run: RunDir) -> dict[str, Any] | None:
    """The labeling curve `bench/labeling_curve.py --run` wrote into the run, with its plot and
    the mean macro-F1 per budget; None when there is none."""
    if not run.labeling_curve.is_file():
        return None
    curve = LabelingCurve.read(run.labeling_curve)
    plot = plots.labeling_curve(curve, run.plots / "labeling_curve.png")
    means = {
        name: [sum(column) / len(column) for column in zip(*values)]
        for name, values in (("loop", curve.loop), ("random", curve.random))
    }
    rows = [
        {"budget": budget, "loop": means["loop"][i], "random": means["random"][i]}
        for i, budget in enumerate(curve.budgets)
    ]
    return {
        "curve": curve,
        "rows": rows,
        "plot": plot.relative_to(run.root).as_posix(),
        "reached": sum(
            value is not None and 2 * value <= curve.budgets[-1] for value in curve.reached
        ),
    }


def run_report(config: Config, run: RunDir) -> list[Path]:
    """Write plots/, report.md and report.html from the run's files."""
    run.require(run.card, stage="prepare")
    run.require(run.train_log, stage="train")
    run.require(run.metrics, run.predictions, stage="evaluate")
    run.clear_from("report")
    card, log = DataCard.read(run.card), TrainLog.read(run.train_log)
    if config.task.objective == "multi_label":
        context = multi_label_context(config, run, card, log)
        return write_report(run, multilabel.TEMPLATE, context)
    if config.task.objective == "regression":
        return write_report(run, regression.TEMPLATE, regression_context(config, run, card, log))
    if config.task.objective in GENERATIVE:
        return write_report(run, generation.TEMPLATE, generation_context(config, run, card, log))
    metrics = Metrics.read(run.metrics)
    predictions = read_parquet(run.predictions)
    labels, shown = metrics.labels, config.report.examples
    audited = audited_mistakes(predictions, read_audit(run, card))
    found = findings(metrics, card, log)
    context = {
        "config": config,
        "title": config.report.title or config.task.name,
        "card": card,
        "example_steps": [s for s in card.steps if s.examples and s.name not in EXAMPLES_APART],
        "audit_step": card.step(StepName.LABEL_AUDIT),
        "split_account": split_account(card),
        "log": log,
        "metrics": metrics,
        "cv": metrics.cross_validation,
        "found": found,
        "teacher": teacher_summary(log),
        "next_steps": next_steps(
            metrics, card, log, found, None if audited is None else len(audited)
        ),
        "mistakes": confident_mistakes(predictions, labels, count=shown).to_dict("records"),
        "pairs": confused_pairs(predictions, labels, pairs=CONFUSED_PAIRS, examples=min(shown, 3)),
        "audited": None if audited is None else audited.head(shown).to_dict("records"),
        "audited_count": None if audited is None else len(audited),
        "plots": draw_plots(run, card, log, metrics, predictions),
        "model_dir": run.model.as_posix(),
        "export": ExportParity.read(run.parity) if run.parity.is_file() else None,
        "export_file": run.onnx_model.as_posix(),
        "labeling": labeling_summary(run),
    }
    return write_report(run, "report.md.j2", context)


def write_report(run: RunDir, template: str, context: dict[str, Any]) -> list[Path]:
    """report.md from `template`, and report.html from it with the plots embedded."""
    text = ENVIRONMENT.get_template(template).render(context)
    write_text(run.report_md, text)
    body = markdown_to_html(text, run.plots)
    page = ENVIRONMENT.get_template("report.html.j2").render(title=context["title"], body=body)
    write_text(run.report_html, page)
    return [run.report_md, run.report_html, run.plots]
