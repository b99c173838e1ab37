"""The arguments and options several commands share, each declared once.

The quick-start options (`--data`, `--text-column`, `--text-pair`, `--label-column`,
`--split-column`, `--time-column`, `--unlabelled`, `--model`, `--objective`) reach a command as one `QuickStart`,
added to its signature by `with_quick_start`, so that `config show`, `prepare` and `run` take the
same flags with the same help without repeating them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from inspect import Parameter, signature
from pathlib import Path
from typing import Annotated, Any

import typer

from domaintune.config import DEFAULT_CONFIG

ConfigArgument = Annotated[
    str | None,
    typer.Argument(
        help=f"A YAML file or ready config name (default: {DEFAULT_CONFIG}).", show_default=False
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Run directory (default: runs/<task name>).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key: section.key=value (repeatable)."),
]
DataOption = Annotated[
    str | None,
    typer.Option("--data", help="Quick start: a data file, folder, builtin:NAME or hub:NAME."),
]
TextColumnOption = Annotated[
    list[str] | None,
    typer.Option(
        "--text-column",
        help="Column with the text; repeat it for several text fields, read in that order "
        "(--text-column subject --text-column body).",
    ),
]
TextPairOption = Annotated[
    bool | None,
    typer.Option(
        "--text-pair",
        help="The two --text-column fields are compared (question and answer, claim and "
        "evidence): encode them as a sentence pair.",
        show_default=False,
    ),
]
LabelColumnOption = Annotated[
    str | None, typer.Option("--label-column", help="Column with the label.")
]
TargetColumnOption = Annotated[
    str | None,
    typer.Option(
        "--target-column",
        help="generation: the column with the text to write for each input (--text-column).",
    ),
]
SplitColumnOption = Annotated[
    str | None,
    typer.Option(
        "--split-column",
        help="Column naming each row's split (train, validation, test): test rows stay in test.",
    ),
]
TimeColumnOption = Annotated[
    str | None,
    typer.Option(
        "--time-column", help="Column with each row's date: split by time, the latest to test."
    ),
]
UnlabelledOption = Annotated[
    str | None,
    typer.Option(
        "--unlabelled",
        help="A file of texts without labels (same formats and text column as --data) that a "
        "distilled student (train.distill_from) also learns from, from the teacher's "
        "probabilities.",
        show_default=False,
    ),
]
ObjectiveOption = Annotated[
    str | None,
    typer.Option(
        "--objective",
        help="Quick start: classification (one label per text), multi_label (a list of "
        "labels per text), regression (a number per text), generation (a text per text: "
        "give --target-column) or language_model (the domain's language alone).",
    ),
]
ModelOption = Annotated[
    str | None, typer.Option("--model", help="builtin:NAME, a local model folder or a Hub id.")
]


@dataclass(frozen=True)
class QuickStart:
    """The quick-start flags: a data source, its columns and a model, to run without a config.
    `--time-column` also sets prepare.split: time, the only use of a time column."""

    data: str | None = None
    text_column: list[str] | None = None
    """One column, or several fields in order."""
    label_column: str | None = None
    target_column: str | None = None
    split_column: str | None = None
    time_column: str | None = None
    unlabelled: str | None = None
    model: str | None = None
    objective: str | None = None
    text_pair: bool | None = None

    def settings(self) -> dict[str, Any]:
        """The flags given, by config key: taken as plain text, never read as YAML. One
        --text-column sets data.text_column, several set data.text_columns."""
        columns = list(self.text_column or [])
        keys = {
            "data.source": self.data,
            "data.text_column": columns[0] if len(columns) == 1 else None,
            "data.text_columns": columns if len(columns) > 1 else None,
            "data.text_pair": self.text_pair,
            "data.label_column": self.label_column,
            "data.target_column": self.target_column,
            "data.split_column": self.split_column,
            "data.time_column": self.time_column,
            "prepare.split": "time" if self.time_column is not None else None,
            "data.unlabelled": self.unlabelled,
            "model.name_or_path": self.model,
            "task.objective": self.objective,
        }
        return {key: value for key, value in keys.items() if value is not None}


QUICK_START_OPTIONS = {
    "data": DataOption,
    "text_column": TextColumnOption,
    "text_pair": TextPairOption,
    "label_column": LabelColumnOption,
    "target_column": TargetColumnOption,
    "split_column": SplitColumnOption,
    "time_column": TimeColumnOption,
    "unlabelled": UnlabelledOption,
    "model": ModelOption,
    "objective": ObjectiveOption,
}


def with_quick_start(command: Callable[..., None]) -> Callable[..., None]:
    """`command` with the quick-start options after its own, handed to it as one `quick`.

    The options are declared here once, for every command that takes them; typer reads the
    command's parameters, and so its options and help, from the signature made here.
    """
    own = signature(command, eval_str=True)
    options = [
        Parameter(name, Parameter.KEYWORD_ONLY, default=None, annotation=option)
        for name, option in QUICK_START_OPTIONS.items()
    ]

    @functools.wraps(command)
    def with_options(**values: Any) -> None:
        quick = QuickStart(**{name: values.pop(name) for name in QUICK_START_OPTIONS})
        command(**values, quick=quick)

    kept = [parameter for name, parameter in own.parameters.items() if name != "quick"]
    with_options.__signature__ = own.replace(parameters=[*kept, *options])
    return with_options
