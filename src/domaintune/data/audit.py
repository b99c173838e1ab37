"""Label audit: find rows whose label is probably wrong, before a model learns from them.

Every row gets class probabilities from a cheap model that never saw it (TF-IDF of words and
character n-grams + logistic regression, cross-validated); confident learning (cleanlab) then flags the rows whose given label
those probabilities contradict, ranked by how strongly. Hashed features keep memory flat on a
million rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline, make_union

from domaintune.config import PrepareConfig
from domaintune.data.card import Step

FEATURES = 2**20


def out_of_fold_probabilities(
    texts: pd.Series, labels: np.ndarray, folds: int, seed: int
) -> np.ndarray:
    """Each row's class probabilities from a model trained on the other folds."""
    features = make_union(
        *(
            make_pipeline(
                HashingVectorizer(
                    n_features=FEATURES, analyzer=analyzer, ngram_range=ngrams, alternate_sign=False
                ),
                TfidfTransformer(sublinear_tf=True),
            )
            for analyzer, ngrams in (("word", (1, 2)), ("char_wb", (2, 5)))
        )
    ).fit_transform(texts)
    features = features[:, np.flatnonzero(features.getnnz(axis=0))].tocsr()  # 10x faster fits
    smallest = int(np.bincount(labels).min())
    splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    model = LogisticRegression(C=10.0, max_iter=300)
    return cross_val_predict(model, features, labels, cv=splitter, method="predict_proba")


def audit_labels(
    frame: pd.DataFrame, config: PrepareConfig, examples: int
) -> tuple[pd.DataFrame, Step, pd.DataFrame]:
    """Flag (or drop, as configured) suspected label errors.

    Two lists in one, ranked from the most suspect: `likely_error` rows are those confident
    learning counts as errors (cleanlab's default, `prune_by_noise_rate`, whose count estimates the
    real noise rate); the audit also lists every row whose label gets less than
    `audit_probability` from the out-of-fold model, since a wrong label that the cheap model
    cannot pin down is still usually among those. Drop mode removes the likely errors only.

    Returns the kept rows, the step for the card, and the flagged rows: row, text, label,
    suggested_label, label_quality (cleanlab's self-confidence), likely_error.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    classes = np.array(sorted(frame["label"].unique()))
    labels = np.searchsorted(classes, frame["label"].to_numpy())
    probabilities = out_of_fold_probabilities(
        frame["text"], labels, config.audit_folds, config.seed
    )
    likely = find_label_issues(labels, probabilities, n_jobs=1)
    doubtful = probabilities[np.arange(len(labels)), labels] < config.audit_probability
    quality = get_label_quality_scores(labels, probabilities)
    ranked = np.flatnonzero(likely | doubtful)
    ranked = ranked[np.argsort(quality[ranked], kind="stable")]
    flagged = frame.iloc[ranked][["row", "text", "label"]].assign(
        suggested_label=classes[probabilities[ranked].argmax(axis=1)],
        label_quality=quality[ranked].round(4),
        likely_error=likely[ranked],
    )
    drop = config.label_audit == "drop"
    kept = frame[~likely] if drop else frame
    step = Step(
        "label_audit",
        f"confident learning (cleanlab) on out-of-fold TF-IDF + LR probabilities: "
        f"{int(likely.sum())} labels ({likely.mean():.1%}) are likely wrong"
        + (" and were dropped" if drop else " (kept; prepare.label_audit: drop removes them)")
        + f"; {int(doubtful.sum())} get less than {config.audit_probability:.0%} for their label",
        len(frame),
        len(kept),
        changed=int(likely.sum()),
        examples=flagged.drop(columns="row").head(examples).to_dict("records"),
    )
    return kept, step, flagged
