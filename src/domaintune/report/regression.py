"""The report's choices for task.objective regression: its template and what fills it.

The same sources as the classification report (the run directory's files alone); the sections
differ: the target's distribution per split, errors (MAE, RMSE) and agreement (R², Spearman,
Pearson) with intervals, baselines with a paired bootstrap of MAE, errors by true value (does the
model pull the extremes to the middle?), rounded scores for whole-number targets, and the texts
with the largest errors. Every judgement below is computed from those figures.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from domaintune.config import Config
from domaintune.data.card import StepName
from domaintune.errors import UserError
from domaintune.evaluate.regression_baselines import NAMES
from domaintune.report import plots
from domaintune.report.training import epochs_step, token_limit, truncation_step
from domaintune.rundir import RunDir, read_parquet
from domaintune.runfiles import DataCard, RegressionComparison, RegressionMetrics, TrainLog

TEMPLATE = "report_regression.md.j2"
PULL = 0.25
"""An end bucket whose mean error is this many of the target's standard deviations off, towards
the middle, at both ends: the model pulls extremes to the middle."""
WEAK_BUCKET = (1.5, 0.1)
"""A bucket whose MAE is 1.5 times the overall MAE, and above it by a tenth of the target's
standard deviation (so that a near-perfect model's noise is not one), earns a suggestion."""


def baseline_name(name: str) -> str:
    return NAMES.get(name, name)


def comparison_sentence(name: str, comparison: RegressionComparison) -> str:
    """The paired bootstrap's verdict in words, for the report's results."""
    difference = comparison.mae_difference
    low, high = comparison.mae_difference_interval
    interval = f"interval [{low:.3f}, {high:.3f}]"
    if comparison.verdict == "better":
        return f"lowers MAE by {-difference:.3f} against {baseline_name(name)}, {interval}: better"
    if comparison.verdict == "worse":
        return (
            f"raises MAE by {difference:.3f} against {baseline_name(name)}, {interval}: worse, "
            "the baseline errs less"
        )
    return (
        f"differs in MAE by {difference:+.3f} from {baseline_name(name)}, {interval}, which "
        "holds zero: the two cannot be told apart on this test split"
    )


def pull_to_middle(metrics: RegressionMetrics, spread: float) -> dict[str, Any] | None:
    """The lowest and highest true-value buckets, when the model overshoots the first and
    undershoots the last by more than PULL of the target's spread: regression to the mean."""
    buckets = metrics.by_target
    if len(buckets) < 2:
        return None
    lowest, highest = buckets[0], buckets[-1]
    margin = PULL * spread
    if lowest.mean_error > margin and highest.mean_error < -margin:
        return {"lowest": lowest, "highest": highest}
    return None


def findings(metrics: RegressionMetrics, card: DataCard, log: TrainLog) -> dict[str, Any]:
    """The judgements the report makes, each computed from the run's figures."""
    targets = card.targets or {}
    spread = targets["test"].std if "test" in targets else 0.0
    comparisons = [
        {
            "name": name,
            "label": baseline_name(name),
            "verdict": c.verdict,
            "sentence": comparison_sentence(name, c),
        }
        for name, c in metrics.significance.items()
    ]
    weakest = max(metrics.by_target, key=lambda b: b.mae)
    times, floor = WEAK_BUCKET
    weak = weakest.mae > times * metrics.mae and weakest.mae - metrics.mae > floor * spread
    return {
        "comparisons": comparisons,
        "beats_all": bool(comparisons) and all(c["verdict"] == "better" for c in comparisons),
        "spread": spread,
        "pull": pull_to_middle(metrics, spread),
        "pull_margin": PULL * spread,
        "weakest_bucket": weakest if weak else None,
        "truncated_share": log.truncated_rows / max(log.train_rows, 1),
        "token_limit": token_limit(log),
    }


def bucket_name(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g} to {high:g}"


def next_steps(
    metrics: RegressionMetrics, card: DataCard, log: TrainLog, found: dict[str, Any]
) -> list[str]:
    """Suggestions for the next iteration, most pressing first, each from this run's figures."""
    steps = []
    verdicts = {c["name"]: c["verdict"] for c in found["comparisons"]}
    if verdicts.get("majority", "better") != "better":
        steps.append(
            "The model does not err less than always predicting the training mean: it has "
            "learnt little. Check that the target can be read from the text, then train longer "
            "or with another learning rate."
        )
    cheaper = [
        name for name, verdict in verdicts.items() if name != "majority" and verdict != "better"
    ]
    if cheaper:
        steps.append(
            f"The fine-tuned model is not better than {', '.join(map(baseline_name, cheaper))} "
            "(paired bootstrap of MAE on the test split): deploy the cheaper baseline, or try a "
            "larger pre-trained model or more data."
        )
    pull = found["pull"]
    if pull:
        low, high = pull["lowest"], pull["highest"]
        steps.append(
            f"The model pulls extremes to the middle: texts whose true value is "
            f"{bucket_name(low.low, low.high)} are predicted {low.mean_error:.2f} too high on "
            f"average, those at {bucket_name(high.low, high.high)} {-high.mean_error:.2f} too "
            "low. Collect more examples at the ends of the scale, or train longer."
        )
    bucket = found["weakest_bucket"]
    if bucket and not (pull and bucket in (pull["lowest"], pull["highest"])):
        steps.append(
            f"Texts whose true value is {bucket_name(bucket.low, bucket.high)} have the largest "
            f"errors (MAE {bucket.mae:.3f} against {metrics.mae:.3f} overall, {bucket.rows} test "
            "rows): add training examples of them."
        )
    epochs = epochs_step(log, "RMSE")
    if epochs:
        steps.append(epochs)
    truncated = truncation_step(log, found["truncated_share"])
    if truncated:
        steps.append(truncated)
    conflicts = card.step(StepName.CONFLICTS)
    if conflicts and conflicts.changed:
        steps.append(
            f"{conflicts.changed} rows shared their text with a row of another value: noise of "
            "this kind in the target caps how small the error can get; check how values are given."
        )
    return steps


def largest_errors(predictions: pd.DataFrame, count: int) -> list[dict[str, Any]]:
    order = predictions["error"].abs().sort_values(ascending=False, kind="stable").index
    return predictions.loc[order[:count], ["text", "label", "predicted", "error"]].to_dict(
        "records"
    )


def regression_context(
    config: Config, run: RunDir, card: DataCard, log: TrainLog
) -> dict[str, Any]:
    """What the regression template reads, with its plots drawn into plots/."""
    if not card.targets:
        raise UserError(f"{run.card} describes no numeric target: run prepare again")
    metrics = RegressionMetrics.read(run.metrics)
    predictions = read_parquet(run.predictions)
    splits = {name: read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    folder = run.plots
    drawn = {
        "targets": plots.target_distribution(splits, folder / "targets.png"),
        "text_lengths": plots.text_lengths(splits, folder / "text_lengths.png"),
        "learning_curves": plots.learning_curves(
            log.history, folder / "learning_curves.png", score="rmse", name="RMSE"
        ),
        "predicted": plots.predicted_against_true(predictions, folder / "predicted.png"),
    }
    found = findings(metrics, card, log)
    return {
        "config": config,
        "title": config.report.title or config.task.name,
        "card": card,
        "log": log,
        "metrics": metrics,
        "found": found,
        "baseline_names": {name: baseline_name(name) for name in metrics.baselines},
        "largest_errors": largest_errors(predictions, config.report.examples),
        "next_steps": next_steps(metrics, card, log, found),
        "plots": {name: path.relative_to(run.root).as_posix() for name, path in drawn.items()},
        "model_dir": run.model.as_posix(),
    }
