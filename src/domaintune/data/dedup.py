"""Duplicates: exact repeats and label conflicts first, then near-duplicates (MinHash LSH).

When the user split the data (a GIVEN column), a text in two splits keeps its copy in the split
that counts most (test, then validation) and loses the others, whatever their labels: a user's
test row is never relabelled or dropped for a training row. Conflicts, repeats and
near-duplicates are then resolved within each split.
"""

from __future__ import annotations

import pandas as pd
from pandas.api.types import is_float_dtype

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName
from domaintune.data.given import GIVEN

PRECEDENCE = {"test": 0, "validation": 1, "train": 2}
"""Which copy of a text in several of the user's splits is kept: the lowest."""


def drop_duplicates(
    frame: pd.DataFrame, prepare: PrepareConfig, *, examples: int
) -> tuple[pd.DataFrame, list[Step]]:
    """Keep one row per distinct text; resolve texts that carry different labels (conflicts).
    Texts without labels (data.unlabelled) have no conflicts: only their repeats go."""
    steps = []
    key = frame["text"].str.casefold()
    if "label" not in frame:
        kept, step = drop_repeats(frame, key, examples=examples)
        return kept, [step]
    if GIVEN in frame:
        frame, step = drop_copies_across_splits(frame, key, examples=examples)
        steps.append(step)
        key = frame[GIVEN] + "\n" + key[frame.index]
    labels_per_text = frame.groupby(key)["label"].transform("nunique")
    conflicted = labels_per_text > 1
    conflict_rows = frame[conflicted].assign(key=key[conflicted])
    if prepare.conflicts == "drop":
        resolved = frame[~conflicted]
        how = "dropped every row of a text that carries more than one label"
    elif is_float_dtype(frame["label"]):  # regression: the middle of the values given
        median = conflict_rows.groupby("key")["label"].median()
        resolved = frame.assign(label=frame["label"].where(~conflicted, key.map(median)))
        how = "gave every row of a text that carries more than one value the median of its values"
    else:
        majority = (
            conflict_rows.groupby(["key", "label"])
            .size()
            .reset_index(name="n")
            .sort_values(["key", "n", "label"], ascending=[True, False, True])
            .drop_duplicates("key")
            .set_index("key")["label"]
        )
        resolved = frame.assign(label=frame["label"].where(~conflicted, key.map(majority)))
        how = "gave every row of a text that carries more than one label its most frequent label"
    conflict_examples = (
        conflict_rows.groupby("key")
        .agg(text=("text", "first"), labels=("label", lambda s: sorted(set(s))))
        .head(examples)
        .to_dict("records")
    )
    conflicts = Step(
        StepName.CONFLICTS,
        how,
        len(frame),
        len(resolved),
        changed=int(conflicted.sum()),
        examples=conflict_examples,
    )
    kept, duplicates = drop_repeats(resolved, key[resolved.index], examples=examples)
    return kept, [*steps, conflicts, duplicates]


def drop_repeats(
    frame: pd.DataFrame, key: pd.Series, *, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Keep the first row of each `key` (a text ignoring case, within its split where given)."""
    repeated = key.duplicated(keep="first")
    step = Step(
        StepName.EXACT_DUPLICATES,
        "dropped repeats of a text (ignoring case) after normalisation, keeping the first",
        len(frame),
        int((~repeated).sum()),
        examples=frame[repeated].head(examples).to_dict("records"),
    )
    return frame[~repeated], step


def drop_copies_across_splits(
    frame: pd.DataFrame, key: pd.Series, *, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Drop the training (or validation) copy of a text a split the user gave also holds."""
    rank = frame[GIVEN].map(PRECEDENCE)
    best = rank == rank.groupby(key).transform("min")
    kept_label = frame["label"].where(best).groupby(key).transform("first")
    copy, other_label = ~best, frame["label"] != kept_label
    step = Step(
        StepName.CROSS_SPLIT_DUPLICATES,
        "dropped the training or validation copy of a text your test (or validation) split also "
        f"holds, keeping the held-out one; {int((copy & other_label).sum())} of them carried "
        "another label",
        len(frame),
        int((~copy).sum()),
        examples=frame[copy][["text", "label", GIVEN]].head(examples).to_dict("records"),
    )
    return frame[~copy], step


def drop_near_duplicates(
    frame: pd.DataFrame, prepare: PrepareConfig, *, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Keep the first row of each label in each near-duplicate group; the rest repeat it.

    Rows of one group with different labels are all kept (their wording differs, and so may their
    meaning) and counted as near conflicts; the split keeps a group together either way. In data
    the user split, each split keeps its own row of a group: the leakage step settles the rest.
    """
    group = frame["group"]
    size = group.map(group.value_counts())
    within = [column for column in ("group", "label", GIVEN) if column in frame]
    repeat = frame.duplicated(within, keep="first")
    drop = repeat if prepare.drop_near_duplicates else pd.Series(False, index=frame.index)
    labels_per_group = frame.groupby("group")["label"].transform("nunique")
    shown = []
    for _, members in frame[size > 1].groupby("group", sort=False):
        shown.append(
            {"texts": members["text"].head(3).tolist(), "labels": sorted(set(members["label"]))}
        )
        if len(shown) == examples:
            break
    action = "dropped" if prepare.drop_near_duplicates else "kept (and never split apart)"
    step = Step(
        StepName.NEAR_DUPLICATES,
        f"{action} near-duplicates (estimated Jaccard similarity of character 5-grams >= "
        f"{prepare.near_duplicate_threshold}) of a text with the same label; "
        f"{int((labels_per_group > 1).sum())} rows are in groups that carry different labels",
        len(frame),
        int((~drop).sum()),
        changed=int(repeat.sum()),
        examples=shown,
    )
    return frame[~drop], step
