"""Error analysis over a predictions table (text, label, predicted, p_<label> columns) and the
prepare stage's label audit (`read_audit`).

Which mistakes the model makes with most confidence, which classes it mixes up, how it does on
short and long texts, which of its mistakes are on rows whose gold label the label audit
already doubted (those may be the label's fault, not the model's), and how it and the baselines
score on the rows the audit does not doubt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from domaintune.errors import UserError
from domaintune.metrics import scores
from domaintune.rundir import RunDir, read_parquet
from domaintune.runfiles import DataCard

AUDIT_COLUMNS = {"split", "text", "label", "suggested_label", "label_quality", "likely_error"}


def confidence(predictions: pd.DataFrame, labels: list[str]) -> pd.Series:
    return predictions[[f"p_{label}" for label in labels]].max(axis=1)


def confident_mistakes(predictions: pd.DataFrame, labels: list[str], *, count: int) -> pd.DataFrame:
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    return (
        wrong.assign(confidence=confidence(wrong, labels))
        .sort_values("confidence", ascending=False, kind="stable")
        .head(count)
    )


def confused_pairs(
    predictions: pd.DataFrame, labels: list[str], *, pairs: int, examples: int
) -> list[dict[str, Any]]:
    """The most frequent (true, predicted) mistakes, each with its most confident examples."""
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    wrong = wrong.assign(confidence=confidence(wrong, labels))
    counts = (
        wrong.groupby(["label", "predicted"]).size().sort_values(ascending=False, kind="stable")
    )
    support = predictions["label"].value_counts()
    found = []
    for (true, predicted), count in counts.head(pairs).items():
        rows = wrong[(wrong["label"] == true) & (wrong["predicted"] == predicted)]
        found.append(
            {
                "true": true,
                "predicted": predicted,
                "count": int(count),
                "share": int(count) / int(support[true]),
                "examples": rows.nlargest(examples, "confidence")["text"].tolist(),
            }
        )
    return found


def by_length(
    texts: pd.Series, gold: np.ndarray, predicted: np.ndarray, *, buckets: int
) -> list[dict[str, Any]]:
    """Scores per equal-count bucket of words per text, shortest first."""
    words = texts.str.split().str.len().to_numpy()
    codes, edges = pd.qcut(words, q=buckets, labels=False, retbins=True, duplicates="drop")
    result = []
    for bucket in range(len(edges) - 1):
        rows = codes == bucket
        if not rows.any():
            continue
        result.append(
            {
                "min_words": int(words[rows].min()),
                "max_words": int(words[rows].max()),
                "rows": int(rows.sum()),
                **scores(gold[rows], predicted[rows]),
            }
        )
    return result


def read_audit(run: RunDir, card: DataCard) -> pd.DataFrame | None:
    """The prepare stage's label audit, or None when it did not run one.

    With `label_audit: off` prepare still writes an empty audit file: the card says whether it ran.
    """
    if card.label_audit.mode == "off" or not run.label_audit.is_file():
        return None
    audit = read_parquet(run.label_audit)
    missing = AUDIT_COLUMNS - set(audit.columns)
    if missing:
        raise UserError(
            f"{run.label_audit} lacks columns {', '.join(sorted(missing))}: run prepare again"
        )
    return audit


def audited_mistakes(predictions: pd.DataFrame, audit: pd.DataFrame | None) -> pd.DataFrame | None:
    """Test rows the label audit flagged that the model also gets wrong, most suspect first.

    None when no audit was run. Rows are matched by text within the test split.
    """
    if audit is None:
        return None
    flagged = audit[audit["split"] == "test"][["text", "suggested_label", "label_quality"]]
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    return wrong.merge(flagged.drop_duplicates("text"), on="text", how="inner").sort_values(
        "label_quality", kind="stable"
    )


def scores_on_trusted_rows(
    texts: pd.Series,
    gold: np.ndarray,
    predicted: dict[str, np.ndarray],
    doubted: set[str],
) -> dict[str, Any] | None:
    """Macro-F1 of each set of predictions ("model", then the baselines) on the scored rows whose
    text the label audit does not count as a likely label error: how far label noise explains the
    errors left. None when the audit doubts none of them (the figures would be the usual ones)
    or all of them."""
    trusted = ~texts.isin(doubted).to_numpy()
    if trusted.all() or not trusted.any():
        return None
    return {
        "rows": int(trusted.sum()),
        "doubted_rows": int((~trusted).sum()),
        "macro_f1": {
            name: scores(gold[trusted], values[trusted])["macro_f1"]
            for name, values in predicted.items()
        },
    }
