"""The prepare stage: source -> labels -> clean -> junk -> typos -> duplicates -> label audit ->
split -> leakage -> balance -> data/ in the run directory.

Everything is computed in memory first and written at the end in one atomic rename, so bad input
never leaves a half-prepared run behind. Each step is counted, with examples, in the data card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from domaintune.config import Config
from domaintune.data.audit import audit_labels
from domaintune.data.balance import balance
from domaintune.data.card import Step, StepName, class_counts, length_summary
from domaintune.data.clean import coerce_text, normalization_summary, normalize, save_normalization
from domaintune.data.dedup import drop_duplicates, drop_near_duplicates
from domaintune.data.fields import (
    TextFields,
    configured_fields,
    fields_frame,
    normalize_fields,
    read_fields,
    save_fields,
)
from domaintune.data.junk import drop_junk
from domaintune.data.labels import check_classes, map_labels
from domaintune.data.leakage import leaking_pairs, remove_leakage
from domaintune.data.minhash import components, signatures, similar_pairs
from domaintune.data.sources import read_source
from domaintune.data.split import split
from domaintune.data.typos import fix_typos
from domaintune.rundir import RunDir, atomic_path, write_text
from domaintune.runfiles import DataCard, FieldsSummary

SPLITS = ("train", "validation", "test")


@dataclass
class Prepared:
    splits: dict[str, pd.DataFrame]
    card: DataCard
    label_audit: pd.DataFrame
    """Suspected label errors, most suspect first, with the split each row ended in."""


def clean(config: Config, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Step], str]:
    """Labels, text repair, junk, typos and exact duplicates: every row-by-row check."""
    prepare, examples = config.prepare, config.report.examples
    fields = configured_fields(config.data)
    frame, steps = map_labels(frame, mapping=config.data.label_mapping, examples=examples)
    if fields is None:
        frame, step = coerce_text(frame, examples=examples)
        steps.append(step)
        frame, step = normalize(frame, prepare, examples=examples)
    else:
        frame, step = read_fields(frame, fields, examples=examples)
        steps.append(step)
        summary = normalization_summary(prepare)
        frame, step = normalize_fields(frame, fields, prepare, summary=summary, examples=examples)
    steps.append(step)
    frame, junk_steps, language = drop_junk(frame, prepare, examples=examples)
    steps += junk_steps
    frame, step = fix_typos(frame, prepare, language=language, examples=examples)
    steps.append(step)
    if prepare.drop_duplicates:
        frame, duplicate_steps = drop_duplicates(frame, prepare, examples=examples)
        steps += duplicate_steps
    return frame, steps, language


def prepare_data(config: Config) -> Prepared:
    """Run every preparation step and describe each in the data card."""
    data, options = config.data, config.prepare
    examples = config.report.examples
    raw = read_source(data)
    fields = configured_fields(data)
    if fields is None:
        frame = pd.DataFrame({"text": raw[data.fields[0]], "label": raw[data.label_column]})
    else:
        frame = fields_frame(raw, fields, label_column=data.label_column)
    classes_raw = class_counts(frame["label"].map(str))
    not_utf8 = raw.attrs.get("lines_not_utf8", 0)
    read = f"read {data.source}" + (
        f"; {not_utf8} lines were not UTF-8 and were read as cp1252" if not_utf8 else ""
    )
    steps: list[Step] = [Step(StepName.READ, read, len(frame), len(frame), changed=not_utf8)]
    frame, clean_steps, language = clean(config, frame)
    steps += clean_steps

    signature = signatures(frame["text"].tolist(), permutations=options.minhash_permutations)
    first, other = similar_pairs(signature, threshold=options.near_duplicate_threshold)
    frame = frame.assign(row=np.arange(len(frame)), group=components(len(frame), first, other))
    frame, step = drop_near_duplicates(frame, options, examples=examples)
    steps.append(step)
    check_classes(frame, options, source=data.source)

    flagged = pd.DataFrame(
        columns=["row", "text", "label", "suggested_label", "label_quality", "likely_error"]
    )
    if options.label_audit != "off":
        frame, step, flagged = audit_labels(frame, options, examples=examples)
        steps.append(step)
        check_classes(frame, options, source=data.source)
    classes_clean = class_counts(frame["label"])

    splits = split(frame, options)
    splits, step = remove_leakage(splits, options, examples=examples)
    steps.append(step)
    leaks = leaking_pairs(splits, signature, threshold=options.near_duplicate_threshold)
    splits["train"], step = balance(splits["train"], method=options.balance, seed=options.seed)
    steps.append(step)

    split_of_row = (
        pd.concat([pd.Series(name, index=part["row"]) for name, part in splits.items()])
        .groupby(level=0)
        .first()
    )
    label_audit = flagged.assign(split=flagged["row"].map(split_of_row).fillna("dropped"))
    labels = sorted(classes_clean)
    card = DataCard(
        source=data.source,
        text_column=" + ".join(data.fields),
        label_column=data.label_column,
        labels=labels,
        language=language,
        rows_read=steps[0].rows_before,
        rows_kept=int(sum(len(part) for part in splits.values())),
        steps=[step.record() for step in steps],
        classes={"raw": classes_raw, "clean": classes_clean},
        balance=options.balance,
        splits={name: class_counts(splits[name]["label"]) for name in SPLITS},
        lengths={name: length_summary(splits[name]["text"]) for name in SPLITS},
        leakage={"near_duplicate_pairs_after": leaks},
        label_audit={
            "mode": options.label_audit,
            "flagged": len(label_audit),
            "likely_errors": int(label_audit["likely_error"].sum()),
            "by_split": {str(k): int(v) for k, v in label_audit["split"].value_counts().items()},
        },
    )
    if fields is not None:
        card.fields = fields_summary(fields, splits)
    return Prepared(splits, card, label_audit.drop(columns="row"))


def fields_summary(fields: TextFields, splits: dict[str, pd.DataFrame]) -> FieldsSummary:
    """The fields, how the model reads them, and each one's lengths per split."""
    return FieldsSummary(
        names=list(fields.names),
        mode=fields.mode,
        lengths={
            name: {split: length_summary(splits[split][column]) for split in SPLITS}
            for name, column in zip(fields.names, fields.columns)
        },
    )


def run_prepare(config: Config, run: RunDir) -> DataCard:
    """Prepare the data and write it, the data card and the resolved config into the run.

    A folder holding files domaintune did not write is refused before the work, and the run folder
    is made and marked only once the data is good.
    """
    run.check_claimable()
    prepared = prepare_data(config)
    fields = configured_fields(config.data)
    columns = ["text", "label", *(fields.columns if fields else [])]
    run.claim(config.task.name)
    run.clear_from("prepare")
    with atomic_path(run.data) as folder:
        folder.mkdir(parents=True)
        for name, part in prepared.splits.items():
            part[columns].to_parquet(folder / f"{name}.parquet", index=False)
        prepared.card.write(folder / run.card.name)
        save_normalization(folder, config.prepare)
        if fields is not None:
            save_fields(folder, fields)
        prepared.label_audit.to_parquet(folder / run.label_audit.name, index=False)
    write_text(run.config, config.to_yaml())
    return prepared.card
