"""Labels: name them, map them, and check that every class can be learnt and evaluated.

multi_label rows carry a label set (`LabelSet`: a sorted tuple of names) instead of one name;
the functions named for label sets read, map and prune those.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName
from domaintune.errors import UserError


def label_name(value: object) -> str | None:
    """A raw label as a name: `5.0` and `5` both become "5"; missing values become None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list | dict):
        return None
    name = str(value).strip()
    return name or None


def map_labels(
    frame: pd.DataFrame, *, mapping: dict[str, str], examples: int
) -> tuple[pd.DataFrame, list[Step]]:
    """Drop rows without a label, then apply the configured mapping (dropping unmapped labels).

    A list is no label here: those rows are dropped with the rest, and the step says how many
    were lists, pointing to task.objective: multi_label; data whose labels are all lists is
    refused with that advice (when no row has a single label).
    """
    names = frame["label"].map(label_name)
    missing = names.isna()
    lists = int(
        frame["label"].map(lambda value: isinstance(value, list | tuple | np.ndarray)).sum()
    )
    if lists and missing.all():
        raise UserError(
            "every label is a list of labels: set task.objective: multi_label (quick start: "
            "--objective multi_label) to learn several labels per text"
        )
    hint = (
        f" ({lists} hold a list of labels: task.objective: multi_label reads those)"
        if lists
        else ""
    )
    steps = [
        Step(
            StepName.MISSING_LABEL,
            "dropped rows without a label" + hint,
            len(frame),
            int((~missing).sum()),
            examples=frame[missing].head(examples).to_dict("records"),
        )
    ]
    frame = frame[~missing].assign(label=names[~missing])
    if mapping:
        mapped = frame["label"].map({str(k): v for k, v in mapping.items()})
        unmapped = mapped.isna()
        unmapped_labels = sorted(frame.loc[unmapped, "label"].unique())
        steps.append(
            Step(
                StepName.MAP_LABELS,
                "mapped raw labels to names with data.label_mapping; dropped labels it does not list"
                + (f" ({', '.join(unmapped_labels[:10])})" if unmapped_labels else ""),
                len(frame),
                int((~unmapped).sum()),
                changed=int((~unmapped).sum()),
                examples=frame[unmapped].head(examples).to_dict("records"),
            )
        )
        frame = frame[~unmapped].assign(label=mapped[~unmapped])
    return frame, steps


CROSS_VALIDATION_MIN_ROWS = 2
"""Rows a class needs under prepare.split cross_validation: one in a training fold, one held out."""


def check_classes(frame: pd.DataFrame, prepare: PrepareConfig, *, source: str) -> None:
    """Refuse data that cannot make a classifier: one class, or a class too small to split."""
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        only = f"only the class '{counts.index[0]}'" if len(counts) else "no labelled rows"
        raise UserError(
            f"{source} has {only} after cleaning: a classifier needs at least two classes"
        )
    if prepare.split == "cross_validation":
        minimum = CROSS_VALIDATION_MIN_ROWS
        need = "cross-validation needs 2 a class (one to learn from, one to score)"
        remedy = "add rows, or merge it into another class with data.label_mapping"
    else:
        minimum = prepare.min_rows_per_class
        need = f"each class needs {minimum} to be split into train, validation and test"
        remedy = (
            "add rows, merge it into another class with data.label_mapping, or lower "
            "prepare.min_rows_per_class"
        )
    small = counts[counts < minimum]
    if not small.empty:
        name, count = small.index[-1], int(small.iloc[-1])
        raise UserError(
            f"{source}: class '{name}' has only {count} row(s) after cleaning, and {need}: {remedy}"
        )


DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
"""A number written with a decimal comma (`3,5`), as European spreadsheets export it."""


def label_value(value: object) -> float | None:
    """A raw regression target as a number; None when missing (null, NaN, blank text).
    Raises ValueError for anything else: text that is not a number, infinity, a list."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | list | dict | tuple | np.ndarray):
        raise ValueError(f"{type(value).__name__} {value!r:.40}")
    if isinstance(value, int | float | np.number):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            number = float(text.replace(",", ".") if DECIMAL_COMMA.match(text) else text)
        except ValueError:
            raise ValueError(f"{text[:40]!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r:.40}")
    return number


def map_values(
    frame: pd.DataFrame, *, source: str, label_column: str, examples: int
) -> tuple[pd.DataFrame, list[Step]]:
    """map_labels for regression: each row's target as a float; rows without one are dropped
    (counted), and a value that is not a number is a UserError naming its row (counted from 1
    over the data rows), since a typo in one cell should be fixed, not silently lose the row."""
    values = []
    for row, value in enumerate(frame["label"], start=1):
        try:
            values.append(label_value(value))
        except ValueError as error:
            raise UserError(
                f"{source}: row {row} has {error} in {label_column}, which is not a number: "
                "task.objective regression needs a number (or nothing) in every row; fix or "
                "remove that row"
            ) from None
    numbers = pd.Series(values, index=frame.index, dtype="float64")
    missing = numbers.isna()
    step = Step(
        StepName.MISSING_LABEL,
        "dropped rows without a value",
        len(frame),
        int((~missing).sum()),
        examples=frame[missing].head(examples).to_dict("records"),
    )
    return frame[~missing].assign(label=numbers[~missing]), [step]


def check_values(frame: pd.DataFrame, prepare: PrepareConfig, *, source: str) -> None:
    """check_classes for regression: a target that varies, and enough rows that validation and
    test get `min_rows_per_class` rows each."""
    distinct = frame["label"].nunique()
    if distinct < 2:
        only = f"only the value {frame['label'].iloc[0]:g}" if distinct else "no rows with a value"
        raise UserError(f"{source} has {only} after cleaning: a regression needs values that vary")
    smallest = min(prepare.validation_size, prepare.test_size)
    needed = math.ceil(prepare.min_rows_per_class / smallest)
    if len(frame) < needed:
        raise UserError(
            f"{source} has {len(frame)} rows with a value after cleaning; {needed} are needed to "
            f"give validation and test {prepare.min_rows_per_class} rows each: add rows, or "
            "lower prepare.min_rows_per_class"
        )


LabelSet = tuple[str, ...]
"""A multi_label row's labels: sorted, each once. A tuple, so rows can be grouped and compared."""


def label_set(value: object, *, separator: str | None) -> LabelSet | None:
    """A raw multi-label value as a label set; None when missing (null, blank text).

    A list (JSON, Parquet, numpy) is taken as given; text is a JSON list when `separator` is None
    and it looks like one, else split on `separator` (a comma when None). Items are named as
    `label_name` names single labels; blank items are ignored and repeats kept once, so `[]` and
    `"a, ,a"` give () and ("a",). Raises ValueError for an item that is itself a list or object.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if separator is None and text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"{text[:60]!r} looks like a JSON list but is not one") from error
        else:
            value = text.split("," if separator is None else separator)
    elif isinstance(value, np.ndarray | tuple):
        value = list(value)
    elif not isinstance(value, list):
        name = label_name(value)
        return None if name is None else (name,)
    names = set()
    for item in value:
        if isinstance(item, list | dict | tuple | np.ndarray):
            raise ValueError(f"the label list holds {type(item).__name__} {item!r:.60}, not a name")
        name = label_name(item)
        if name is not None:
            names.add(name)
    return tuple(sorted(names))


def parse_label_sets(labels: pd.Series, *, separator: str | None, source: str) -> pd.Series:
    """Every row's label set (None where missing); a value that cannot be read is a UserError
    naming its row, counted from 1 over the data rows."""
    parsed = []
    for row, value in enumerate(labels, start=1):
        try:
            parsed.append(label_set(value, separator=separator))
        except ValueError as error:
            raise UserError(
                f"{source}: row {row} has a label that cannot be read as a list of labels "
                f"({error}): give a list of names, or names joined by data.label_separator"
            ) from None
    return pd.Series(parsed, index=labels.index, dtype=object)


def map_label_sets(
    frame: pd.DataFrame,
    *,
    mapping: dict[str, str],
    separator: str | None,
    source: str,
    examples: int,
) -> tuple[pd.DataFrame, list[Step]]:
    """map_labels for multi_label: read each row's label set, drop rows without one (missing or
    an empty list: each its own step), and map each label (dropping labels the mapping omits).

    A data set whose rows all have an empty list is refused, naming the first such row: it has
    nothing to learn from and is most likely read from the wrong column or with the wrong
    separator.
    """
    sets = parse_label_sets(frame["label"], separator=separator, source=source)
    missing = sets.isna()
    steps = [
        Step(
            StepName.MISSING_LABEL,
            "dropped rows without a label",
            len(frame),
            int((~missing).sum()),
            examples=frame[missing].head(examples).to_dict("records"),
        )
    ]
    if mapping:
        mapped = sets[~missing].map(
            lambda labels: tuple(sorted({mapping[x] for x in labels if x in mapping}))
        )
        unmapped = sorted({x for labels in sets[~missing] for x in labels} - set(mapping))
        steps.append(
            Step(
                StepName.MAP_LABELS,
                "mapped raw labels to names with data.label_mapping; dropped labels it does not "
                "list from each row's set" + (f" ({', '.join(unmapped[:10])})" if unmapped else ""),
                int((~missing).sum()),
                int((~missing).sum()),
                changed=int((mapped != sets[~missing]).sum()),
            )
        )
        sets = sets.where(missing, mapped)
    empty = ~missing & (sets.map(lambda labels: labels is not None and len(labels) == 0))
    if empty.any() and (missing | empty).all():
        first = int(np.flatnonzero(empty.to_numpy())[0]) + 1
        raise UserError(
            f"{source}: every row's label list is empty after reading (row {first} is the first): "
            "check data.label_column, data.label_separator and data.label_mapping"
        )
    steps.append(
        Step(
            StepName.EMPTY_LABELS,
            "dropped rows whose label list is empty",
            int((~missing).sum()),
            int((~missing & ~empty).sum()),
            examples=frame[empty].head(examples).to_dict("records"),
        )
    )
    kept = ~missing & ~empty
    return frame[kept].assign(label=sets[kept]), steps


def label_counts(sets: pd.Series) -> pd.Series:
    """Rows per label (a row counts once for each of its labels), largest first."""
    return sets.explode().value_counts()


def drop_rare_labels(
    frame: pd.DataFrame, prepare: PrepareConfig, *, source: str, examples: int
) -> tuple[pd.DataFrame, Step]:
    """check_classes for multi_label: labels on fewer than `min_rows_per_class` rows are dropped
    from the sets (a rare tag should not stop the others being learnt), then rows left without a
    label. Refused when fewer than two labels remain."""
    counts = label_counts(frame["label"])
    rare = set(counts[counts < prepare.min_rows_per_class].index)
    sets = frame["label"].map(lambda labels: tuple(x for x in labels if x not in rare))
    kept = sets.map(len) > 0
    left = len(counts) - len(rare)
    if left < 2:
        raise UserError(
            f"{source} has {left} label(s) on at least {prepare.min_rows_per_class} rows after "
            "cleaning: a multi-label classifier needs at least two; add rows or lower "
            "prepare.min_rows_per_class"
        )
    step = Step(
        StepName.RARE_LABELS,
        f"dropped {len(rare)} label(s) found on fewer than {prepare.min_rows_per_class} rows from "
        "the label sets"
        + (f" ({', '.join(sorted(rare)[:10])})" if rare else "")
        + ", then the rows left without a label",
        len(frame),
        int(kept.sum()),
        changed=int((sets != frame["label"]).sum()),
        examples=frame[sets != frame["label"]].head(examples).to_dict("records"),
    )
    return frame[kept].assign(label=sets[kept]), step


def check_split_classes(
    splits: dict[str, pd.DataFrame], made: dict[str, str], *, source: str, multi_label: bool
) -> list[str]:
    """Refuse a class no training row teaches; warn of a class a held-out split the user gave
    lacks (its scores there cannot be measured), which prepare must not fix by moving rows.
    multi_label: a class is a label, found in a row's set."""

    def rows_per_class(part: pd.DataFrame) -> pd.Series:
        return label_counts(part["label"]) if multi_label else part["label"].value_counts()

    counts = {name: rows_per_class(part) for name, part in splits.items()}
    train = set(counts["train"].index)
    every = set().union(*(set(count.index) for count in counts.values()))
    untaught = sorted(every - train)
    if untaught:
        where = {name: int(count.get(untaught[0], 0)) for name, count in counts.items()}
        raise UserError(
            f"{source}: class '{untaught[0]}' has no training rows after cleaning (validation "
            f"{where['validation']}, test {where['test']}), so no model can learn it: add "
            "training rows of it, or merge it into another class with data.label_mapping"
        )
    return [
        f"class '{label}' has no rows in the {name} split you gave: its {name} scores cannot be "
        "measured"
        for name in ("validation", "test")
        if made.get(name) == "given"
        for label in sorted(train - set(counts[name].index))
    ]
