"""The prepare stage: source -> labels -> clean -> junk -> typos -> duplicates -> label audit ->
split -> leakage -> audit drop (training rows only) -> balance -> data/ in the run directory.

A split the user gives (a split column, or separate files) is kept: its rows are cleaned like any
other, but a test or validation row is never moved, relabelled for a training row, or dropped as
leakage; the training copy goes instead, and the card counts it (see `dedup`, `leakage`).

Everything is computed in memory first and written at the end in one atomic rename, so bad input
never leaves a half-prepared run behind. Each step is counted, with examples, in the data card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from domaintune import assets
from domaintune.config import GENERATIVE, MAX_CHARS_WHEN_CUT, Config, PrepareConfig
from domaintune.data.audit import audit_label_sets, audit_labels, drop_doubted
from domaintune.data.balance import balance
from domaintune.data.card import (
    Step,
    StepName,
    class_counts,
    length_summary,
    set_counts,
    target_summary,
)
from domaintune.data.clean import coerce_text, normalization_summary, normalize, save_normalization
from domaintune.data.dedup import drop_duplicates, drop_near_duplicates
from domaintune.data.fields import (
    TextFields,
    configured_fields,
    normalize_fields,
    read_fields,
    save_fields,
)
from domaintune.data.given import GIVEN, read_rows
from domaintune.data.junk import drop_junk
from domaintune.data.labels import (
    check_classes,
    check_split_classes,
    check_values,
    drop_rare_labels,
    label_counts,
    map_label_sets,
    map_labels,
    map_values,
    parse_label_sets,
)
from domaintune.data.leakage import (
    KEPT_AS_MADE,
    leaking_pairs,
    near_training_rows,
    remove_leakage,
)
from domaintune.data.minhash import components, signatures, similar_pairs
from domaintune.data.sources import read_unlabelled
from domaintune.data.split import SPLITS, make_splits, resolve_split
from domaintune.data.targets import (
    check_rows,
    count_tokens,
    read_targets,
    target_limit,
    token_lengths,
)
from domaintune.data.typos import fix_typos
from domaintune.data.unlabelled import drop_labelled_twins
from domaintune.errors import UserError
from domaintune.models import load_tokenizer
from domaintune.rundir import RunDir, atomic_path, write_text
from domaintune.runfiles import DataCard, FieldsSummary, SplitSummary, UnlabelledSummary


@dataclass
class Prepared:
    splits: dict[str, pd.DataFrame]
    card: DataCard
    label_audit: pd.DataFrame
    """Suspected label errors, most suspect first, with the split each row ended in."""
    unlabelled: pd.DataFrame | None = None
    """data.unlabelled's kept texts (a `text` column), when given."""


def max_chars(config: Config) -> int | None:
    """prepare.max_chars with auto resolved: no limit where the model reads every window."""
    if config.prepare.max_chars != "auto":
        return config.prepare.max_chars
    return None if config.model.long_text == "chunks" else MAX_CHARS_WHEN_CUT


def clean(config: Config, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Step], str]:
    """Labels, text repair, junk, typos and exact duplicates: every row-by-row check."""
    examples = config.report.examples
    if config.task.objective in GENERATIVE:
        frame, steps = read_targets(frame, config, examples=examples)
    elif config.task.objective == "regression":
        frame, steps = map_values(
            frame,
            source=config.data.source,
            label_column=config.data.label_column,
            examples=examples,
        )
    elif config.task.objective == "multi_label":
        frame, steps = map_label_sets(
            frame,
            mapping=config.data.label_mapping,
            separator=config.data.label_separator,
            source=config.data.source,
            examples=examples,
        )
    else:
        frame, steps = map_labels(frame, mapping=config.data.label_mapping, examples=examples)
    frame, text_steps, language = clean_texts(config, frame, prepare=config.prepare)
    return frame, steps + text_steps, language


def clean_texts(
    config: Config, frame: pd.DataFrame, *, prepare: PrepareConfig
) -> tuple[pd.DataFrame, list[Step], str]:
    """Text repair, junk, typos and exact duplicates: the checks that read the text alone, so
    that texts without labels (data.unlabelled) are cleaned as labelled ones are."""
    examples = config.report.examples
    fields = configured_fields(config.data)
    steps: list[Step] = []
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
    frame, junk_steps, language = drop_junk(
        frame, prepare, examples=examples, max_chars=max_chars(config)
    )
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
    rows = read_rows(config)
    frame = rows.frame
    fields = configured_fields(data)
    multi = config.task.objective == "multi_label"
    generative = config.task.objective in GENERATIVE
    regression = config.task.objective == "regression" or generative  # no classes either
    if multi:  # Parquet's lists arrive as numpy arrays: as lists, the card can show them
        frame["label"] = frame["label"].map(as_list)
        raw_sets = parse_label_sets(
            frame["label"], separator=data.label_separator, source=data.source
        )
        classes_raw = class_counts(raw_sets.dropna().explode().dropna())
    elif regression:
        classes_raw = {}
    else:
        classes_raw = class_counts(frame["label"].map(str))
    files = data.split_files()
    read = (
        f"read {', '.join(files.values()) if files else data.source}"
        + (f" as {rows.encoding}" if rows.encoding != "utf-8" else "")
        + (
            f"; {rows.lines_not_utf8} lines were not UTF-8 and were read as cp1252"
            if rows.lines_not_utf8
            else ""
        )
    )
    steps: list[Step] = [
        Step(StepName.READ, read, len(frame), len(frame), changed=rows.lines_not_utf8)
    ]
    frame, clean_steps, language = clean(config, frame)
    steps += clean_steps

    signature = signatures(frame["text"].tolist(), permutations=options.minhash_permutations)
    first, other = similar_pairs(signature, threshold=options.near_duplicate_threshold)
    times = None if rows.times is None else rows.times.loc[frame.index].to_numpy()
    frame = frame.assign(row=np.arange(len(frame)), group=components(len(frame), first, other))
    frame, step = drop_near_duplicates(frame, options, examples=examples)
    steps.append(step)
    options = resolve_split(
        options,
        frame,
        classification=not (multi or regression),
        given=bool(files) or GIVEN in frame,
    )
    if multi:
        frame, step = drop_rare_labels(frame, options, source=data.source, examples=examples)
        steps.append(step)
    elif generative:
        check_rows(frame, config)
    elif regression:
        check_values(frame, options, source=data.source)
    else:
        check_classes(frame, options, source=data.source)

    flagged = pd.DataFrame(
        columns=["row", "text", "label", "suggested_label", "label_quality", "likely_error"]
    )
    if options.label_audit != "off" and multi:
        step, flagged = audit_label_sets(frame, options, examples=examples)
        steps.append(step)
    elif options.label_audit != "off":
        step, flagged = audit_labels(frame, options, examples=examples)
        steps.append(step)
    counts = label_counts if multi else no_classes if regression else pd.Series.value_counts
    classes_clean = class_counts(frame["label"], counts=counts)

    splits, made = make_splits(
        frame, options, times=times, multi_label=multi, stratify=not generative
    )
    near_train = near_training_rows(splits)
    splits, step = remove_leakage(splits, options, examples=examples, made=made)
    steps.append(step)
    cross_validated = options.split == "cross_validation"
    if options.label_audit == "drop":
        splits["train"], step = drop_doubted(
            splits["train"], flagged, examples=examples, scored=cross_validated
        )
        steps.append(step)
        if cross_validated and not multi:  # every row is in train: the folds need each class
            check_classes(splits["train"], options, source=data.source)
    warnings = (
        []
        if regression or cross_validated
        else check_split_classes(splits, made, source=data.source, multi_label=multi)
    )
    leaks = leaking_pairs(splits, signature, threshold=options.near_duplicate_threshold)
    if cross_validated and options.balance in {"undersample", "oversample"}:
        raise UserError(
            f"prepare.balance {options.balance} resamples rows before training, and under "
            "cross-validation (prepare.split, chosen for this small data) copies would be scored "
            "by models that learnt them: set prepare.balance class_weights (the default) or none"
        )
    if not regression:  # a number has no classes to balance
        splits["train"], step = balance(
            splits["train"], method=options.balance, seed=options.seed, multi_label=multi
        )
        steps.append(step)

    split_of_row = (
        pd.concat([pd.Series(name, index=part["row"]) for name, part in splits.items()])
        .groupby(level=0)
        .first()
    )
    label_audit = flagged.assign(split=flagged["row"].map(split_of_row).fillna("dropped"))
    labels = [data.label_column] if regression else sorted(classes_clean)
    if generative:
        labels = [data.target_column] if data.target_column else []
    card = DataCard(
        source=data.source,
        text_column=" + ".join(data.fields),
        label_column=data.target_column or "" if generative else data.label_column,
        labels=labels,
        language=language,
        rows_read=steps[0].rows_before,
        rows_kept=int(sum(len(part) for part in splits.values())),
        steps=[step.record() for step in steps],
        classes={"raw": classes_raw, "clean": classes_clean},
        balance=options.balance,
        splits={name: class_counts(splits[name]["label"], counts=counts) for name in SPLITS},
        lengths={name: length_summary(splits[name]["text"]) for name in SPLITS},
        leakage={"near_duplicate_pairs_after": leaks},
        label_audit={
            "mode": options.label_audit,
            "flagged": len(label_audit),
            "likely_errors": int(label_audit["likely_error"].sum()),
            "by_split": {str(k): int(v) for k, v in label_audit["split"].value_counts().items()},
        },
        split=split_summary(
            config,
            options.split if rows.method == "auto" else rows.method,
            splits,
            made,
            near_train,
            times=times,
            warnings=warnings,
        ),
    )
    if multi:  # set only here, so a classification card stays as it was
        card.objective = "multi_label"
        card.label_sets = {name: set_counts(splits[name]["label"]) for name in SPLITS}
    if generative:
        card.objective = config.task.objective
        card.tokens = token_summary(config, splits)
    elif regression:
        card.objective = "regression"
        card.targets = {
            "clean": target_summary(frame["label"]),
            **{name: target_summary(splits[name]["label"]) for name in SPLITS},
        }
    if fields is not None:
        card.fields = fields_summary(fields, splits)
    unlabelled = None
    if data.unlabelled is not None:
        unlabelled, card.unlabelled = prepare_unlabelled(
            config, data.unlabelled, splits, language=language
        )
    return Prepared(splits, card, label_audit.drop(columns="row"), unlabelled)


def prepare_unlabelled(
    config: Config, source: str, splits: dict[str, pd.DataFrame], *, language: str
) -> tuple[pd.DataFrame, UnlabelledSummary]:
    """data.unlabelled read as the data is, its texts cleaned as the labelled ones were (in the
    language found in them), less those that repeat a labelled text or each other."""
    raw = read_unlabelled(source, config.data)
    frame = pd.DataFrame({"text": raw[config.data.fields[0]]})
    read = Step(StepName.READ, f"read {source}", len(frame), len(frame))
    prepare = config.prepare.model_copy(update={"language": language})
    frame, steps, _ = clean_texts(config, frame, prepare=prepare)
    frame, twin_steps, twins = drop_labelled_twins(
        frame, splits, config.prepare, examples=config.report.examples
    )
    summary = UnlabelledSummary(
        source=source,
        rows_read=len(raw),
        rows_kept=len(frame),
        steps=[step.record() for step in [read, *steps, *twin_steps]],
        labelled_twins=twins,
    )
    return frame[["text"]].reset_index(drop=True), summary


def token_summary(config: Config, splits: dict[str, pd.DataFrame]) -> dict:
    """generation and language_model: tokens per input and per target in each split, with the
    limits training will cut them to and how many it cuts (counted by the model's tokenizer)."""
    tokenizer = load_tokenizer(assets.model_path(config.model.name_or_path))
    inputs = {name: count_tokens(tokenizer, part["text"]) for name, part in splits.items()}
    if config.task.objective == "language_model":
        limit = config.generation.max_text_tokens
        return {"input": {name: token_lengths(n, limit) for name, n in inputs.items()}}
    targets = {name: count_tokens(tokenizer, part["label"]) for name, part in splits.items()}
    input_limit = config.generation.max_input_tokens
    limit = target_limit(config, targets["train"])
    return {
        "input": {name: token_lengths(n, input_limit) for name, n in inputs.items()},
        "target": {name: token_lengths(n, limit) for name, n in targets.items()},
    }


def no_classes(values: pd.Series) -> pd.Series:
    """regression: a number is no class, so there are no rows per class to count."""
    return values.iloc[:0].value_counts()


def as_list(value: object) -> object:
    """A numpy array (how Parquet lists are read) as a list; any other value as it is."""
    return value.tolist() if isinstance(value, np.ndarray) else value


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


def split_summary(
    config: Config,
    method: str,
    splits: dict[str, pd.DataFrame],
    made: dict[str, str],
    near_train: dict[str, int],
    *,
    times: np.ndarray | None,
    warnings: list[str],
) -> SplitSummary:
    """The card's account of the split: where it came from, each split's rows and time range."""
    summary = SplitSummary(
        method=method,
        made=made,
        rows={name: len(part) for name, part in splits.items()},
        near_train_kept={
            name: count for name, count in near_train.items() if made[name] in KEPT_AS_MADE
        },
    )
    data = config.data
    if method == "split_column":
        summary.split_column = data.split_column
    if method == "files":
        summary.files = data.split_files()
    if times is not None:
        summary.time_column = data.time_column
        summary.time_range = {
            name: (
                pd.Timestamp(times[part["row"]].min()).isoformat(),
                pd.Timestamp(times[part["row"]].max()).isoformat(),
            )
            for name, part in splits.items()
            if len(part)
        }
    if warnings:
        summary.warnings = warnings
    return summary


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
            part = part[columns]
            if config.task.objective == "multi_label":  # a list column in Parquet
                part = part.assign(label=part["label"].map(list))
            part.to_parquet(folder / f"{name}.parquet", index=False)
        prepared.card.write(folder / run.card.name)
        save_normalization(folder, config.prepare)
        if fields is not None:
            save_fields(folder, fields)
        prepared.label_audit.to_parquet(folder / run.label_audit.name, index=False)
        if prepared.unlabelled is not None:
            prepared.unlabelled.to_parquet(folder / run.unlabelled.name, index=False)
    write_text(run.config, config.to_yaml())
    return prepared.card
