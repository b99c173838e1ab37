"""What `/metadata` says about the model served: read once, when the server starts, from the run
directory (metrics.json, the model card) and the loaded predictor (labels, rules, temperature)."""

from __future__ import annotations

import re
from pathlib import Path

from domaintune.predict import Predictor
from domaintune.rundir import RunDir
from domaintune.runfiles import Interval, Metrics
from domaintune.serve.schemas import (
    ClassRule,
    DecisionRules,
    Limits,
    Metadata,
    ModelCardSummary,
    Score,
    TestMetrics,
)

FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def run_root(path: Path, predictor: Predictor) -> Path | None:
    """The run directory of the model served: `path` itself, or the folder above a run's model
    folder; None for a model folder outside any run (no metrics to show)."""
    for candidate in (path, predictor.folder.parent):
        if RunDir(candidate).metrics.is_file():
            return candidate
    return None


def score(value: float, interval: Interval) -> Score:
    return Score(value=value, low=interval[0], high=interval[1])


def test_metrics(metrics: Metrics) -> TestMetrics:
    intervals = metrics.intervals
    return TestMetrics(
        test_rows=metrics.test_rows,
        confidence_level=metrics.confidence_level,
        accuracy=score(metrics.accuracy, intervals.accuracy),
        macro_f1=score(metrics.macro_f1, intervals.macro_f1),
        weighted_f1=score(metrics.weighted_f1, intervals.weighted_f1),
        f1={
            label: score(metrics.per_class[label].f1_score, intervals.f1[label])
            for label in metrics.labels
            if label in metrics.per_class and label in intervals.f1
        },
    )


def paragraphs(markdown: str) -> list[str]:
    """Blocks separated by blank lines, each joined into one line."""
    blocks = re.split(r"\n\s*\n", markdown.strip())
    return [" ".join(line.strip() for line in block.splitlines()) for block in blocks if block]


def sections(markdown: str) -> dict[str, str]:
    """`## Heading` -> the text under it, up to the next such heading."""
    found: dict[str, str] = {}
    for part in re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]:
        heading, _, body = part.partition("\n")
        found[heading.strip().lower()] = body
    return found


def model_card_summary(path: Path) -> ModelCardSummary | None:
    """The title, the line under it, the intended use and the limitations of a model card
    written by evaluate; None without one."""
    if not path.is_file():
        return None
    text = FRONT_MATTER.sub("", path.read_text(encoding="utf-8").replace("\r\n", "\n"))
    title = re.search(r"^# (.+)$", text, flags=re.MULTILINE)
    head = re.split(r"^## ", text, maxsplit=1, flags=re.MULTILINE)[0]
    lead = paragraphs(head[title.end() :] if title else head)
    parts = sections(text)
    use = paragraphs(parts.get("intended use", ""))
    limits = parts.get("limitations", "")
    return ModelCardSummary(
        title=title.group(1).strip() if title else path.parent.name,
        summary=lead[0] if lead else "",
        intended_use=use[0] if use else None,
        limitations=[
            line.strip()[2:].strip() for line in limits.splitlines() if line.strip()[:2] == "- "
        ],
    )


def decision_rules(predictor: Predictor) -> DecisionRules:
    rule = predictor.rules.class_rule
    return DecisionRules(
        abstain_below=predictor.rules.abstain_below,
        class_rule=None if rule is None else ClassRule(**rule.model_dump()),
    )


def read_metadata(path: Path, predictor: Predictor, *, limits: Limits) -> Metadata:
    root = run_root(path, predictor)
    metrics = Metrics.read(RunDir(root).metrics) if root is not None else None
    return Metadata(
        name=(root or predictor.folder).resolve().name,
        labels=predictor.labels,
        fields=None if predictor.fields is None else list(predictor.fields.names),
        text_pair=predictor.fields is not None and predictor.fields.pair,
        backend=predictor.backend.name,
        temperature=predictor.temperature,
        decision_rules=decision_rules(predictor),
        metrics=test_metrics(metrics) if metrics is not None else None,
        model_card=model_card_summary(predictor.folder / "README.md"),
        limits=limits,
    )
