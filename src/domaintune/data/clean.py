"""Cleaning: repair text, drop empty rows, and remove exact duplicates and label conflicts."""

from __future__ import annotations

import html
import math
import re

import ftfy
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step

WHITESPACE = re.compile(r"\s+")


def to_text(value: object) -> str:
    """A cell as text: strings as they are, numbers written out, anything else (lists, None) empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else str(value)
    return ""


def normalize_text(text: str, config: PrepareConfig) -> str:
    if config.unescape_html:
        text = html.unescape(html.unescape(text))  # twice: `&amp;amp;` is common in scraped text
    if config.fix_unicode:
        text = ftfy.fix_text(text, unescape_html=False)
    if config.normalize_whitespace:
        text = WHITESPACE.sub(" ", text).strip()
    if config.strip_quotes and len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def normalize(
    frame: pd.DataFrame, config: PrepareConfig, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Repair unicode and HTML entities and collapse whitespace; count what changed."""
    raw = frame["text"].map(to_text)
    cleaned = raw.map(lambda text: normalize_text(text, config))
    changed = raw != cleaned
    shown = [
        {"before": before, "after": after}
        for before, after in zip(raw[changed].head(examples), cleaned[changed].head(examples))
    ]
    step = Step(
        "normalize",
        "repaired mojibake, HTML entities, control characters, whitespace and wrapping quotes",
        len(frame),
        len(frame),
        changed=int(changed.sum()),
        examples=shown,
    )
    return frame.assign(text=cleaned), step


def drop_short(
    frame: pd.DataFrame, config: PrepareConfig, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Drop texts that are empty (or shorter than `min_chars`) after cleaning."""
    short = frame["text"].str.len() < config.min_chars
    step = Step(
        "drop_empty",
        f"dropped texts shorter than {config.min_chars} character(s) after cleaning",
        len(frame),
        int((~short).sum()),
        examples=frame[short].head(examples).to_dict("records"),
    )
    return frame[~short], step


def drop_duplicates(
    frame: pd.DataFrame, config: PrepareConfig, examples: int
) -> tuple[pd.DataFrame, list[Step]]:
    """Keep one row per distinct text; resolve texts that carry different labels (conflicts)."""
    key = frame["text"].str.casefold()
    labels_per_text = frame.groupby(key)["label"].transform("nunique")
    conflicted = labels_per_text > 1
    conflict_rows = frame[conflicted].assign(key=key[conflicted])
    if config.conflicts == "drop":
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
        "conflicts",
        how,
        len(frame),
        len(resolved),
        changed=int(conflicted.sum()),
        examples=conflict_examples,
    )
    resolved_key = key[resolved.index]
    repeated = resolved_key.duplicated(keep="first")
    duplicates = Step(
        "exact_duplicates",
        "dropped repeats of a text (ignoring case) after normalisation, keeping the first",
        len(resolved),
        int((~repeated).sum()),
        examples=resolved[repeated].head(examples).to_dict("records"),
    )
    return resolved[~repeated], [conflicts, duplicates]
