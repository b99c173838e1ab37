"""The report's choices for generation and language_model: its template and what fills it.

The same sources as the other reports (the run directory's files alone); the sections: the data
and its token lengths (how much of each input the model read), the training curve (validation
loss on target tokens), perplexity against the base model, ROUGE against the base model
prompted zero-shot and the lead baseline with the paired bootstrap, sample outputs beside their
references (best and worst), then strengths, weaknesses and next steps, each computed from those
figures.
"""

from __future__ import annotations

from typing import Any

from domaintune.config import Config
from domaintune.report import plots
from domaintune.rundir import RunDir, read_parquet
from domaintune.runfiles import DataCard, GenerationMetrics, TrainLog

TEMPLATE = "report_generation.md.j2"
MOSTLY_CUT = 0.5
"""A share of test inputs cut to the token limit above which the report suggests a longer one."""
CLEAR_GAIN = 0.05
"""A ROUGE-L gain (F, 0-1) of five points: the issue's bar for a fine-tuned model that is clearly
better than the base model and the lead baseline."""


def findings(metrics: GenerationMetrics, card: DataCard, log: TrainLog) -> dict[str, Any]:
    """Strengths, weaknesses and next steps, each from a figure of the run."""
    strengths, weaknesses, steps = [], [], []
    ratio = metrics.perplexity_ratio
    if ratio >= 1:
        strengths.append(
            f"Perplexity of the test targets fell {ratio:.1f}x, from {metrics.perplexity_base:.1f} "
            f"(base model) to {metrics.perplexity:.1f}: the model now expects this domain's "
            "targets far better."
        )
    else:
        weaknesses.append(
            f"Perplexity rose from {metrics.perplexity_base:.1f} to {metrics.perplexity:.1f}: "
            "fine-tuning made the test targets less likely; check the learning rate and the data."
        )
    for name, words in (
        ("base", "the base model prompted zero-shot"),
        ("lead", "the lead baseline"),
    ):
        comparison = metrics.significance.get(name)
        if comparison is None:
            continue
        gain = 100 * comparison.rougeL_difference
        low, high = (100 * value for value in comparison.interval)
        text = f"ROUGE-L {gain:+.1f} points against {words} (interval [{low:.1f}, {high:.1f}])"
        if comparison.verdict == "better" and comparison.rougeL_difference >= CLEAR_GAIN:
            strengths.append(f"{text}: clearly better.")
        elif comparison.verdict == "better":
            strengths.append(f"{text}: better, but by less than {100 * CLEAR_GAIN:.0f} points.")
        else:
            weaknesses.append(f"{text}: not better than {words} on these rows.")
            if name == "lead":
                steps.append(
                    "The input's own first words do as well: the targets may copy the input; "
                    "check whether a model is needed, or give more training rows."
                )
    tokens = card.tokens or {}
    test_inputs = tokens.get("input", {}).get("test")
    if test_inputs is not None and card.split.rows.get("test"):
        share = test_inputs.cut / card.split.rows["test"]
        if share > MOSTLY_CUT:
            weaknesses.append(
                f"{100 * share:.0f}% of test inputs were cut to their first {test_inputs.limit} "
                f"tokens (median {test_inputs.p50:.0f}): the model never read the rest."
            )
            steps.append(
                f"Raise generation.max_input_tokens above {test_inputs.limit} if the targets draw "
                "on later parts of the inputs (each step's time grows with the tokens)."
            )
    if not log.stopped_early and log.steps > 0:
        steps.append(
            f"Training ran all {log.steps} planned steps without validation loss turning up: "
            "raise generation.max_steps (or train.epochs) to see whether it keeps falling."
        )
    if metrics.objective == "generation" and metrics.rouge_rows < metrics.test_rows:
        steps.append(
            f"ROUGE was measured on {metrics.rouge_rows} of {metrics.test_rows} test rows "
            "(generation.rouge_rows): raise it for narrower intervals."
        )
    steps.append(
        "Read the worst samples in section 3: they show which inputs the model still misreads."
    )
    return {"strengths": strengths, "weaknesses": weaknesses, "next_steps": steps}


def generation_context(
    config: Config, run: RunDir, card: DataCard, log: TrainLog
) -> dict[str, Any]:
    """What the generation template reads, with its plots drawn into plots/."""
    metrics = GenerationMetrics.read(run.metrics)
    splits = {name: read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    folder = run.plots
    drawn = {
        "text_lengths": plots.text_lengths(splits, folder / "text_lengths.png"),
        "learning_curves": plots.learning_curves(
            log.history, folder / "learning_curves.png", score="loss", name="loss"
        ),
    }
    return {
        "config": config,
        "title": config.report.title or config.task.name,
        "card": card,
        "log": log,
        "metrics": metrics,
        "found": findings(metrics, card, log),
        "plots": {name: path.relative_to(run.root).as_posix() for name, path in drawn.items()},
        "model_dir": run.model.as_posix(),
    }
