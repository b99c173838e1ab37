"""`domaintune inspect`: every data check of `prepare`, summarised, with nothing written.

The summary is computed from the data card that `prepare_data` builds in memory, so what inspect
says is exactly what prepare would do; the verdict turns the counts into what to fix first.
"""

from __future__ import annotations

from domaintune.config import Config
from domaintune.data.card import StepName
from domaintune.data.prepare import Prepared, prepare_data
from domaintune.runfiles import DataCard

IMBALANCE_RATIO = 3.0
"""Largest over smallest class from which the verdict calls the data imbalanced."""
FEW_ROWS = 100
"""Rows of a class under which fine-tuning learns it poorly, whatever the model."""
NOISY = 0.05
"""A share of likely label errors from which relabelling is worth more than any setting."""


JUNK = (StepName.TOO_SHORT, StepName.TOO_LONG, StepName.NOT_LETTERS)
"""Rows dropped as junk: too short, too long, or mostly not letters."""


def summary(card: DataCard) -> list[tuple[str, str]]:
    """The figures a data scientist looks at first, as (check, finding) rows."""
    classes = card.classes.clean
    total = sum(classes.values()) or card.rows_kept  # a number or a text target has no classes
    lengths = card.lengths["train"]
    audit_step = card.step(StepName.LABEL_AUDIT)
    audited = audit_step.rows_before if audit_step else 0
    audit = card.label_audit
    class_rows = (
        [
            ("classes", ", ".join(f"{k} {v:,} ({v / total:.0%})" for k, v in classes.items())),
            (
                "balance",
                f"largest / smallest class = {max(classes.values()) / min(classes.values()):.1f}",
            ),
        ]
        if classes
        else []
    )
    token_rows = [
        (
            f"{kind} tokens (train)",
            f"median {t.p50:g}, 95th percentile {t.p95:g}, max {t.max}; {t.cut:,} over the "
            f"limit of {t.limit}",
        )
        for kind, by_split in (card.tokens or {}).items()
        for t in [by_split["train"]]
    ]
    return [
        ("rows read", f"{card.rows_read:,}"),
        ("rows after cleaning", f"{total:,}"),
        *(class_rows if classes else token_rows),
        (
            "length (words)",
            f"median {lengths.words_p50:g}, 99th percentile {lengths.words_p99:g}, max {lengths.words_max}",
        ),
        ("language", card.language),
        (
            "missing or unusable labels",
            f"{card.removed(StepName.MISSING_LABEL, StepName.MAP_LABELS, StepName.EMPTY_LABELS):,}",
        ),
        ("texts that are not text", f"{card.removed(StepName.NOT_TEXT):,}"),
        ("junk (short, long, symbols)", f"{card.removed(*JUNK):,}"),
        ("other language", f"{card.removed(StepName.OTHER_LANGUAGE):,}"),
        ("texts repaired (unicode, HTML, dates)", f"{card.changed(StepName.NORMALIZE):,}"),
        ("typos corrected (rows)", f"{card.changed(StepName.TYPOS):,}"),
        ("exact duplicates", f"{card.removed(StepName.EXACT_DUPLICATES):,}"),
        ("label conflicts (same text)", f"{card.changed(StepName.CONFLICTS):,}"),
        ("near-duplicates", f"{card.changed(StepName.NEAR_DUPLICATES):,}"),
        (
            "suspected label errors",
            f"{audit.likely_errors:,} likely ({audit.likely_errors / max(audited, 1):.1%}), "
            f"{audit.flagged:,} doubtful in all"
            if audit.mode != "off"
            else "not audited",
        ),
        (
            "held-out rows near-duplicating train",
            f"{card.changed(StepName.LEAKAGE):,} (moved or dropped)",
        ),
        ("split", split_finding(card)),
    ]


def split_finding(card: DataCard) -> str:
    """Where the split comes from and how each held-out split is made."""
    made = ", ".join(
        f"{name} {'as given' if how == 'given' else f'carved ({how})'}"
        for name, how in card.split.made.items()
    )
    return f"{card.split.method.replace('_', ' ')}: {made}"


def verdict(card: DataCard) -> list[str]:
    """What to fix, most important first; each line names the count behind it."""
    classes = card.classes.clean
    total = sum(classes.values())
    advice = []
    audit = card.label_audit
    if audit.mode != "off" and audit.likely_errors / max(total, 1) >= NOISY:
        advice.append(
            f"{audit.likely_errors:,} labels ({audit.likely_errors / total:.0%}) look wrong: "
            "review the top of data/label_audit.parquet after `prepare`, or set "
            "prepare.label_audit: drop"
        )
    small = {k: v for k, v in classes.items() if v < FEW_ROWS}
    if small:
        advice.append(
            f"few examples of {', '.join(f'{k} ({v})' for k, v in small.items())}: label more "
            f"(at least {FEW_ROWS} each) or merge classes with data.label_mapping"
        )
    ratio = max(classes.values()) / min(classes.values()) if classes else 1.0
    if ratio >= IMBALANCE_RATIO:
        advice.append(
            f"classes are imbalanced ({ratio:.1f}:1): keep prepare.balance: class_weights (the "
            "default) and judge the model by macro-F1, not accuracy"
        )
    duplicates = card.removed(StepName.EXACT_DUPLICATES) + card.changed(StepName.NEAR_DUPLICATES)
    if duplicates / max(card.rows_read, 1) >= 0.05:
        advice.append(
            f"{duplicates:,} duplicates and near-duplicates ({duplicates / card.rows_read:.0%} "
            "of rows): prepare removes them; check how the data was collected"
        )
    conflicts = card.changed(StepName.CONFLICTS)
    if conflicts:
        advice.append(
            f"{conflicts:,} rows share a text with a different label: the labelling guide may be "
            "ambiguous there"
        )
    twins = card.removed(StepName.CROSS_SPLIT_DUPLICATES) + sum(card.split.near_train_kept.values())
    if twins:
        advice.append(
            f"{twins:,} rows of your held-out splits repeat or nearly repeat a training row: "
            "prepare drops the training copies; check how the splits were made"
        )
    advice += card.split.warnings
    junk = card.removed(StepName.NOT_TEXT, *JUNK, StepName.OTHER_LANGUAGE)
    if junk:
        advice.append(f"{junk:,} junk or other-language rows will be dropped (see the card)")
    return advice or ["nothing stands out: the data looks ready to train on"]


def inspect_data(config: Config) -> tuple[Prepared, list[tuple[str, str]], list[str]]:
    prepared = prepare_data(config)
    return prepared, summary(prepared.card), verdict(prepared.card)
