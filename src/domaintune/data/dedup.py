"""Duplicates: exact repeats and label conflicts first, then near-duplicates (MinHash LSH)."""

from __future__ import annotations

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName


def drop_duplicates(
    frame: pd.DataFrame, prepare: PrepareConfig, *, examples: int
) -> tuple[pd.DataFrame, list[Step]]:
    """Keep one row per distinct text; resolve texts that carry different labels (conflicts)."""
    key = frame["text"].str.casefold()
    labels_per_text = frame.groupby(key)["label"].transform("nunique")
    conflicted = labels_per_text > 1
    conflict_rows = frame[conflicted].assign(key=key[conflicted])
    if prepare.conflicts == "drop":
        resolved = frame[~conflicted]
        how = "dropped every row of a text that carries more than one label"
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
    resolved_key = key[resolved.index]
    repeated = resolved_key.duplicated(keep="first")
    duplicates = Step(
        StepName.EXACT_DUPLICATES,
        "dropped repeats of a text (ignoring case) after normalisation, keeping the first",
        len(resolved),
        int((~repeated).sum()),
        examples=resolved[repeated].head(examples).to_dict("records"),
    )
    return resolved[~repeated], [conflicts, duplicates]


def drop_near_duplicates(
    frame: pd.DataFrame, prepare: PrepareConfig, *, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Keep the first row of each label in each near-duplicate group; the rest repeat it.

    Rows of one group with different labels are all kept (their wording differs, and so may their
    meaning) and counted as near conflicts; the split keeps a group together either way.
    """
    group = frame["group"]
    size = group.map(group.value_counts())
    repeat = frame.duplicated(["group", "label"], keep="first")
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
