"""The model card: model/README.md in the Hugging Face format, written with the test figures.

The YAML front matter (library, pipeline tag, base model, `model-index` with the test results) is
what the Hub and other tools read; the body says what the model is for and how far to trust it.
Unknown facts (the data's language and licence) are left out rather than guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from domaintune import assets
from domaintune.config import Config
from domaintune.data.clean import load_normalization, normalization_summary
from domaintune.evaluate.regression_baselines import NAMES
from domaintune.rundir import write_text
from domaintune.runfiles import DataCard, Metrics, MultiLabelMetrics, RegressionMetrics, TrainLog
from domaintune.templating import environment

ENVIRONMENT = environment("evaluate/templates")


def base_model(name_or_path: str) -> str | None:
    """The Hub id of the pre-trained model, when there is one (a local folder has none)."""
    if assets.is_builtin(name_or_path):
        model = assets.MODELS.get(name_or_path.removeprefix(assets.BUILTIN_PREFIX))
        return model.hub_id if model else None
    return None if Path(name_or_path).exists() else name_or_path


def front_matter(config: Config, card: DataCard, metrics: Metrics) -> dict[str, Any]:
    base = base_model(config.model.name_or_path)
    return {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        **({"base_model": base} if base else {}),
        "tags": ["text-classification", "domaintune"],
        "model-index": [
            {
                "name": config.task.name,
                "results": [
                    {
                        "task": {"type": "text-classification", "name": "Text Classification"},
                        "dataset": {
                            "name": card.source,
                            "type": card.source,
                            "split": "test",
                        },
                        "metrics": [
                            {"type": "accuracy", "value": metrics.accuracy, "name": "Accuracy"},
                            {
                                "type": "f1",
                                "value": metrics.macro_f1,
                                "name": "Macro F1",
                                "args": {"average": "macro"},
                            },
                        ],
                    }
                ],
            }
        ],
    }


def write_model_card(
    path: Path,
    config: Config,
    card: DataCard,
    log: TrainLog,
    metrics: Metrics,
) -> Path:
    header = yaml.safe_dump(
        front_matter(config, card, metrics), sort_keys=False, allow_unicode=True
    )
    per_class = metrics.per_class
    normalization = load_normalization(path.parent)  # what prediction repeats, from the folder
    body = ENVIRONMENT.get_template("model_card.md.j2").render(
        config=config,
        card=card,
        log=log,
        m=metrics,
        normalization=None if normalization is None else normalization_summary(normalization),
        weakest=min(metrics.labels, key=lambda label: per_class[label].f1_score),
    )
    write_text(path, f"---\n{header}---\n\n{body}")
    return path


def write_card(
    path: Path,
    config: Config,
    card: DataCard,
    *,
    task: str,
    scores: list[dict[str, Any]],
    tags: list[str],
    template: str,
    **context: Any,
) -> Path:
    """A model card for the Hub: front matter with the test `scores` under `task`, then
    `template` rendered with the config, the data card and `context`."""
    base = base_model(config.model.name_or_path)
    results = {
        "task": {"type": "text-classification", "name": task},
        "dataset": {"name": card.source, "type": card.source, "split": "test"},
        "metrics": scores,
    }
    front = {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        **({"base_model": base} if base else {}),
        "tags": ["text-classification", *tags, "domaintune"],
        "model-index": [{"name": config.task.name, "results": [results]}],
    }
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    body = ENVIRONMENT.get_template(template).render(config=config, card=card, **context)
    write_text(path, f"---\n{header}---\n\n{body}")
    return path


def write_multi_label_model_card(
    path: Path, config: Config, card: DataCard, log: TrainLog, metrics: MultiLabelMetrics
) -> Path:
    """The model card of a multi_label model: the same front matter with its micro- and
    macro-F1, and a body saying how its labels are decided (thresholds.json)."""
    scores = [
        {"type": "f1", "value": value, "name": name, "args": {"average": average}}
        for name, value, average in (
            ("Micro F1", metrics.micro_f1, "micro"),
            ("Macro F1", metrics.macro_f1, "macro"),
        )
    ]
    return write_card(
        path, config, card, task="Multi-label Text Classification", scores=scores,
        tags=["multi-label-classification"], template="model_card_multilabel.md.j2",
        log=log, m=metrics,
    )  # fmt: skip


def write_regression_model_card(
    path: Path, config: Config, card: DataCard, log: TrainLog, metrics: RegressionMetrics
) -> Path:
    """The model card of a regression model: the front matter with its MAE, RMSE and Spearman,
    and a body saying the one output is the value itself, on the target's own scale."""
    scores = [
        {"type": kind, "value": value, "name": name}
        for kind, value, name in (
            ("mae", metrics.mae, "MAE"),
            ("rmse", metrics.rmse, "RMSE"),
            ("spearmanr", metrics.spearman, "Spearman"),
        )
    ]
    return write_card(
        path, config, card, task="Text Regression", scores=scores, tags=["regression"],
        template="model_card_regression.md.j2", log=log, m=metrics, names=NAMES,
    )  # fmt: skip


def write_generation_model_card(
    path: Path, config: Config, card: DataCard, log: TrainLog, metrics: Any, prompting: Any
) -> Path:
    """The model card of a generation or language_model model: text-generation front matter
    with its perplexity (and ROUGE-L), and a body saying how to prompt it."""
    base = base_model(config.model.name_or_path)
    scores = [{"type": "perplexity", "value": metrics.perplexity, "name": "Perplexity"}]
    if metrics.rougeL is not None:
        scores.append({"type": "rouge", "value": metrics.rougeL, "name": "ROUGE-L F"})
    front = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        **({"base_model": base} if base else {}),
        "tags": ["text-generation", config.task.objective.replace("_", "-"), "domaintune"],
        "model-index": [
            {
                "name": config.task.name,
                "results": [
                    {
                        "task": {"type": "text-generation", "name": "Text Generation"},
                        "dataset": {"name": card.source, "type": card.source, "split": "test"},
                        "metrics": scores,
                    }
                ],
            }
        ],
    }
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    body = ENVIRONMENT.get_template("model_card_generation.md.j2").render(
        config=config, card=card, log=log, m=metrics, prompting=prompting
    )
    write_text(path, f"---\n{header}---\n\n{body}")
    return path
