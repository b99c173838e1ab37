"""`domaintune label import`: labels from a filled file merged into the labels file, never lost.

Every row of the labels file is kept as it is. An imported row whose id the file already has with
the same label is counted as already present; with another label it is a conflict, refused, as
are two imported rows of one id with different labels, and a label that is not known. Known
labels: `--labels` when given; else the labels the labels file already holds (so a typo cannot
start a new class); the first import, into a file that does not exist yet, needs `--labels`.
Rows without a label (not filled in yet, not annotated) are skipped and counted. Everything is
checked before the file is rewritten, atomically: an error leaves it exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from domaintune.errors import UserError
from domaintune.label.formats import SOURCE
from domaintune.label.pool import ID, LABEL, LABEL_COLUMNS, TEXT, read_labelled
from domaintune.rundir import atomic_path


@dataclass(frozen=True)
class Merged:
    """What an import did."""

    added: int
    already_present: int
    skipped_empty: int
    total: int
    """Rows in the labels file afterwards."""


def known_labels(
    existing: pd.DataFrame | None, labels: list[str] | None, *, into: Path
) -> list[str]:
    if labels is not None:
        return labels
    if existing is None or existing.empty:
        raise UserError(
            f"{into} has no labels yet: give --labels a,b,c (the label names) on the first import"
        )
    return sorted(set(existing[LABEL]))


def check_rows(rows: pd.DataFrame, labels: list[str], *, source: Path) -> None:
    """Every imported label known, and one label per id within the import."""
    unknown = ~rows[LABEL].isin(labels)
    if unknown.any():
        row = rows[unknown].iloc[0]
        raise UserError(
            f"{source}: {row[SOURCE]} (id '{row[ID]}') has the label '{row[LABEL]}', not one of "
            f"{', '.join(labels)}: correct it, or add it to --labels"
        )
    distinct = rows.drop_duplicates([ID, LABEL])
    twice = distinct[distinct[ID].duplicated(keep=False)]
    if len(twice):
        ident = twice[ID].iloc[0]
        given = rows[rows[ID] == ident]
        places = ", ".join(f"{row[SOURCE]} '{row[LABEL]}'" for _, row in given.iterrows())
        raise UserError(
            f"{source}: the id '{ident}' is given different labels ({places}): keep one"
        )


def merge_labels(
    source: Path, filled: pd.DataFrame, into: Path, *, labels: list[str] | None
) -> Merged:
    """Merge the labelled rows of `filled` (read from `source`) into the labels file `into`."""
    existing = read_labelled(into) if into.exists() else None
    known = known_labels(existing, labels, into=into)
    empty = filled[LABEL] == ""
    rows = filled[~empty]
    if rows[ID].eq("").any():
        row = rows[rows[ID].eq("")].iloc[0]
        raise UserError(f"{source}: {row[SOURCE]} has a label but no id: every row needs its id")
    check_rows(rows, known, source=source)
    rows = rows.drop_duplicates(ID)
    before = existing if existing is not None else pd.DataFrame(columns=LABEL_COLUMNS)
    held = dict(zip(before[ID], before[LABEL]))
    clash = rows[rows[ID].isin(held) & (rows[ID].map(held) != rows[LABEL])]
    if len(clash):
        row = clash.iloc[0]
        raise UserError(
            f"{source}: {row[SOURCE]} labels the id '{row[ID]}' '{row[LABEL]}', but {into} "
            f"already has it as '{held[row[ID]]}': fix the one that is wrong (a label in {into} "
            "is changed only by editing that file)"
        )
    new = rows[~rows[ID].isin(held)][[ID, TEXT, LABEL]]
    merged = pd.concat([before, new], ignore_index=True).fillna("")
    if len(new) or existing is None:
        with atomic_path(into) as temporary:
            merged.to_csv(temporary, index=False)
    return Merged(
        added=len(new),
        already_present=len(rows) - len(new),
        skipped_empty=int(empty.sum()),
        total=len(merged),
    )
