"""The prepare stage: source -> clean -> labels -> split -> balance -> data/ in the run directory.

Everything is computed in memory first and written at the end in one atomic rename, so bad input
never leaves a half-prepared run behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from domaintune.config import Config
from domaintune.data.balance import balance
from domaintune.data.card import Step, class_counts, length_summary
from domaintune.data.clean import drop_duplicates, drop_short, normalize
from domaintune.data.labels import check_classes, map_labels
from domaintune.data.sources import read_source
from domaintune.data.split import split
from domaintune.rundir import RunDir, atomic_path, write_json, write_text

SPLITS = ("train", "validation", "test")


@dataclass
class Prepared:
    splits: dict[str, pd.DataFrame]
    card: dict[str, Any]


def prepare_data(config: Config) -> Prepared:
    """Run every preparation step and describe each in the data card."""
    data, options = config.data, config.prepare
    examples = config.report.examples
    raw = read_source(data)
    frame = pd.DataFrame({"text": raw[data.text_column], "label": raw[data.label_column]})
    classes_raw = class_counts(frame["label"].map(str))
    steps: list[Step] = [Step("read", f"read {data.source}", len(frame), len(frame))]

    frame, label_steps = map_labels(frame, data.label_mapping, examples)
    steps += label_steps
    frame, step = normalize(frame, options, examples)
    steps.append(step)
    frame, step = drop_short(frame, options, examples)
    steps.append(step)
    if options.drop_duplicates:
        frame, duplicate_steps = drop_duplicates(frame, options, examples)
        steps += duplicate_steps
    check_classes(frame, options, data.source)
    classes_clean = class_counts(frame["label"])

    splits = split(frame, options)
    splits["train"], step = balance(splits["train"], options.balance, options.seed)
    steps.append(step)
    labels = sorted(classes_clean)
    card = {
        "source": data.source,
        "text_column": data.text_column,
        "label_column": data.label_column,
        "labels": labels,
        "rows_read": steps[0].rows_before,
        "rows_kept": int(sum(len(part) for part in splits.values())),
        "steps": [step.to_dict() for step in steps],
        "classes": {"raw": classes_raw, "clean": classes_clean},
        "balance": options.balance,
        "splits": {name: class_counts(splits[name]["label"]) for name in SPLITS},
        "lengths": {name: length_summary(splits[name]["text"]) for name in SPLITS},
    }
    return Prepared(splits, card)


def run_prepare(config: Config, run: RunDir) -> dict[str, Any]:
    """Prepare the data and write it, the data card and the resolved config into the run."""
    prepared = prepare_data(config)
    run.clear_from("prepare")
    with atomic_path(run.data) as folder:
        folder.mkdir(parents=True)
        for name, part in prepared.splits.items():
            part[["text", "label"]].to_parquet(folder / f"{name}.parquet", index=False)
        write_json(folder / "card.json", prepared.card)
    write_text(run.config, config.to_yaml())
    return prepared.card
