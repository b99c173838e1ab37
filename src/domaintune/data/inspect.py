"""`domaintune inspect`: every data check of `prepare`, summarised, with nothing written.

The summary is computed from the data card that `prepare_data` builds in memory, so what inspect
says is exactly what prepare would do; the verdict turns the counts into what to fix first.
"""

from __future__ import annotations

from typing import Any

from domaintune.config import Config
from domaintune.data.prepare import Prepared, prepare_data

IMBALANCE_RATIO = 3.0
"""Largest over smallest class from which the verdict calls the data imbalanced."""
FEW_ROWS = 100
"""Rows of a class under which fine-tuning learns it poorly, whatever the model."""
NOISY = 0.05
"""A share of likely label errors from which relabelling is worth more than any setting."""


def removed(card: dict[str, Any], *names: str) -> int:
    return sum(step["removed"] for step in card["steps"] if step["name"] in names)


def changed(card: dict[str, Any], name: str) -> int:
    return sum(step["changed"] for step in card["steps"] if step["name"] == name)


def summary(card: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures a data scientist looks at first, as (check, finding) rows."""
    classes = card["classes"]["clean"]
    total = sum(classes.values())
    lengths = card["lengths"]["train"]
    audited = next((s["rows_before"] for s in card["steps"] if s["name"] == "label_audit"), 0)
    audit = card["label_audit"]
    return [
        ("rows read", f"{card['rows_read']:,}"),
        ("rows after cleaning", f"{total:,}"),
        ("classes", ", ".join(f"{k} {v:,} ({v / total:.0%})" for k, v in classes.items())),
        (
            "balance",
            f"largest / smallest class = {max(classes.values()) / min(classes.values()):.1f}",
        ),
        (
            "length (words)",
            f"median {lengths['words_p50']:g}, 99th percentile {lengths['words_p99']:g}, max {lengths['words_max']}",
        ),
        ("language", card["language"]),
        ("missing or unusable labels", f"{removed(card, 'missing_label', 'map_labels'):,}"),
        ("texts that are not text", f"{removed(card, 'not_text'):,}"),
        (
            "junk (short, long, symbols)",
            f"{removed(card, 'too_short', 'too_long', 'not_letters'):,}",
        ),
        ("other language", f"{removed(card, 'other_language'):,}"),
        ("texts repaired (unicode, HTML, dates)", f"{changed(card, 'normalize'):,}"),
        ("typos corrected (rows)", f"{changed(card, 'typos'):,}"),
        ("exact duplicates", f"{removed(card, 'exact_duplicates'):,}"),
        ("label conflicts (same text)", f"{changed(card, 'conflicts'):,}"),
        ("near-duplicates", f"{changed(card, 'near_duplicates'):,}"),
        (
            "suspected label errors",
            f"{audit.get('likely_errors', 0):,} likely ({audit.get('likely_errors', 0) / max(audited, 1):.1%}), "
            f"{audit.get('flagged', 0):,} doubtful in all"
            if audit["mode"] != "off"
            else "not audited",
        ),
        (
            "held-out rows near-duplicating train",
            f"{changed(card, 'leakage'):,} (moved or dropped)",
        ),
    ]


def verdict(card: dict[str, Any]) -> list[str]:
    """What to fix, most important first; each line names the count behind it."""
    classes = card["classes"]["clean"]
    total = sum(classes.values())
    advice = []
    audit = card["label_audit"]
    if audit["mode"] != "off" and audit.get("likely_errors", 0) / max(total, 1) >= NOISY:
        advice.append(
            f"{audit['likely_errors']:,} labels ({audit['likely_errors'] / total:.0%}) look wrong: "
            "review the top of data/label_audit.parquet after `prepare`, or set "
            "prepare.label_audit: drop"
        )
    small = {k: v for k, v in classes.items() if v < FEW_ROWS}
    if small:
        advice.append(
            f"few examples of {', '.join(f'{k} ({v})' for k, v in small.items())}: label more "
            f"(at least {FEW_ROWS} each) or merge classes with data.label_mapping"
        )
    ratio = max(classes.values()) / min(classes.values())
    if ratio >= IMBALANCE_RATIO:
        advice.append(
            f"classes are imbalanced ({ratio:.1f}:1): keep prepare.balance: class_weights (the "
            "default) and judge the model by macro-F1, not accuracy"
        )
    duplicates = removed(card, "exact_duplicates") + changed(card, "near_duplicates")
    if duplicates / max(card["rows_read"], 1) >= 0.05:
        advice.append(
            f"{duplicates:,} duplicates and near-duplicates ({duplicates / card['rows_read']:.0%} "
            "of rows): prepare removes them; check how the data was collected"
        )
    conflicts = changed(card, "conflicts")
    if conflicts:
        advice.append(
            f"{conflicts:,} rows share a text with a different label: the labelling guide may be "
            "ambiguous there"
        )
    junk = removed(card, "not_text", "too_short", "too_long", "not_letters", "other_language")
    if junk:
        advice.append(f"{junk:,} junk or other-language rows will be dropped (see the card)")
    return advice or ["nothing stands out: the data looks ready to train on"]


def inspect_data(config: Config) -> tuple[Prepared, list[tuple[str, str]], list[str]]:
    prepared = prepare_data(config)
    return prepared, summary(prepared.card), verdict(prepared.card)
