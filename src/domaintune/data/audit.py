"""Label audit: find rows whose label is probably wrong, before a model learns from them.

Every row gets class probabilities from a cheap model that never saw it (TF-IDF of words and
character n-grams + logistic regression, cross-validated); confident learning (cleanlab) then flags the rows whose given label
those probabilities contradict, ranked by how strongly. Hashed features, a cap on each fold's
training rows and chunked prediction keep a million rows linear in time and flat in memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_union

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName, row_examples

FEATURES = 2**20
CHUNK = 50_000
"""Rows turned into features at a time when predicting, which bounds memory on large data."""
TOLERANCE = 1e-3
"""The logistic regressions stop at this tolerance, not scikit-learn's 1e-4: the fits took most of
prepare's time. Measured on seven suite sets (`bench/quality.py`'s), with rows hashed once: the
audit ran 2.1-3.0x faster (default task 59.9 to 20.6 s, Brown 72.9 to 24.2 s) and out-of-fold
accuracy moved by -0.4 to +0.7 points. The likely-error set changed less than a new fold seed
changes it (Jaccard 0.73-1.0 old to new, against 0.50-0.66 seed to seed). On 5% planted wrong
labels, label quality ranked them about as well (AUROC better on four of six sets, e.g. 0.925 to
0.928 on the default task and 0.799 to 0.808 on product snippets; 0.999 both on BBC; 0.892 to
0.889 on movie snippets). The cost: the set depends a little more on the fold seed (Jaccard
0.50-0.62)."""


def vectorizer():
    """Stateless hashed n-grams of words (1-2) and characters within words (2-5)."""
    return make_union(
        *(
            HashingVectorizer(
                n_features=FEATURES,
                analyzer=analyzer,
                ngram_range=ngrams,
                alternate_sign=False,
                dtype=np.float32,
            )
            for analyzer, ngrams in (("word", (1, 2)), ("char_wb", (2, 5)))
        )
    )


class TextFeatures:
    """TF-IDF of hashed n-grams (`vectorizer`), the weights fitted on the rows `sample`, for any
    rows of `texts`. Where the sample is every row (data within `audit_max_train_rows`), the rows
    are hashed once and each fold slices that matrix: hashing each fold's rows again took 17 of
    the audit's 54 s on the default task. Larger data is hashed fold by fold, in chunks."""

    def __init__(self, texts: np.ndarray, sample: np.ndarray) -> None:
        self.texts = texts
        self.hashing = vectorizer()
        hashed = self.hashing.transform(texts[sample])
        self.tfidf = TfidfTransformer(sublinear_tf=True).fit(hashed)
        self.every_row = self.tfidf.transform(hashed) if len(sample) == len(texts) else None

    def __call__(self, rows: np.ndarray) -> sparse.csr_matrix:
        if self.every_row is not None:
            return self.every_row[rows]
        return self.tfidf.transform(self.hashing.transform(self.texts[rows]))


def cheap_model() -> LogisticRegression:
    """The audit's classifier: weakly regularised, since the hashed n-grams are many and sparse."""
    return LogisticRegression(C=10.0, max_iter=300, tol=TOLERANCE)


def stratified_subset(rows: np.ndarray, labels: np.ndarray, *, limit: int, seed: int) -> np.ndarray:
    """At most `limit` of `rows`, stratified by label."""
    if len(rows) <= limit:
        return rows
    sample, _ = train_test_split(rows, train_size=limit, stratify=labels[rows], random_state=seed)
    return np.sort(sample)


def out_of_fold_probabilities(
    texts: pd.Series, labels: np.ndarray, prepare: PrepareConfig
) -> np.ndarray:
    """Each row's class probabilities from a model trained on the other folds.

    Each fold's model trains on at most `audit_max_train_rows` rows and predicts in chunks, so
    time grows linearly with the data and memory does not grow with it.
    """
    texts = texts.to_numpy()
    sample = stratified_subset(
        np.arange(len(texts)), labels, limit=prepare.audit_max_train_rows, seed=prepare.seed
    )
    features_of = TextFeatures(texts, sample)
    smallest = int(np.bincount(labels).min())
    folds = StratifiedKFold(
        n_splits=min(prepare.audit_folds, smallest), shuffle=True, random_state=prepare.seed
    )
    probabilities = np.zeros((len(texts), labels.max() + 1))
    for train, held_out in folds.split(texts, labels):
        train = stratified_subset(
            train, labels, limit=prepare.audit_max_train_rows, seed=prepare.seed
        )
        features = features_of(train)
        used = np.flatnonzero(features.getnnz(axis=0))  # 10x faster fits on used columns only
        model = cheap_model().fit(features[:, used], labels[train])
        for start in range(0, len(held_out), CHUNK):
            rows = held_out[start : start + CHUNK]
            chunk = features_of(rows)[:, used]
            probabilities[np.ix_(rows, model.classes_)] = model.predict_proba(chunk)
    return probabilities


def audit_labels(
    frame: pd.DataFrame, prepare: PrepareConfig, *, examples: int
) -> tuple[Step, pd.DataFrame]:
    """Flag suspected label errors (drop mode removes them from the training split once it is
    split off: `drop_doubted`).

    Two lists in one, ranked from the most suspect: `likely_error` rows are those confident
    learning counts as errors (cleanlab's default, `prune_by_noise_rate`, whose count estimates the
    real noise rate); the audit also lists every row whose label gets less than
    `audit_probability` from the out-of-fold model, since a wrong label that the cheap model
    cannot pin down is still usually among those.

    Returns the step for the card and the flagged rows: row, text, label, suggested_label,
    label_quality (cleanlab's self-confidence), likely_error.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    classes = np.array(sorted(frame["label"].unique()))
    labels = np.searchsorted(classes, frame["label"].to_numpy())
    probabilities = out_of_fold_probabilities(frame["text"], labels, prepare)
    likely = find_label_issues(labels, probabilities, n_jobs=1)
    doubtful = probabilities[np.arange(len(labels)), labels] < prepare.audit_probability
    quality = get_label_quality_scores(labels, probabilities)
    ranked = np.flatnonzero(likely | doubtful)
    ranked = ranked[np.argsort(quality[ranked], kind="stable")]
    flagged = frame.iloc[ranked][["row", "text", "label"]].assign(
        suggested_label=classes[probabilities[ranked].argmax(axis=1)],
        label_quality=quality[ranked].round(4),
        likely_error=likely[ranked],
    )
    step = audit_step(
        frame,
        flagged,
        likely,
        prepare,
        examples=examples,
        method="confident learning (cleanlab) on out-of-fold TF-IDF + LR probabilities",
        what="labels",
        doubts=f"{int(doubtful.sum())} get less than {prepare.audit_probability:.0%} for their "
        "label",
    )
    return step, flagged


def out_of_fold_set_probabilities(
    texts: pd.Series, members: np.ndarray, prepare: PrepareConfig
) -> np.ndarray:
    """multi_label: each row's probability of each label, from one-vs-rest models trained on the
    other folds (folds drawn at random: label sets have no one class to stratify by), with the
    same features, row cap and chunking as `out_of_fold_probabilities`."""
    texts = texts.to_numpy()
    rng = np.random.default_rng(prepare.seed)
    sample = np.sort(rng.permutation(len(texts))[: prepare.audit_max_train_rows])
    features_of = TextFeatures(texts, sample)
    folds = KFold(n_splits=prepare.audit_folds, shuffle=True, random_state=prepare.seed)
    probabilities = np.zeros(members.shape)
    for train, held_out in folds.split(texts):
        train = np.sort(rng.permutation(train)[: prepare.audit_max_train_rows])
        features = features_of(train)
        used = np.flatnonzero(features.getnnz(axis=0))
        models = []
        for label in range(members.shape[1]):
            target = members[train, label]
            if target.all() or not target.any():  # nothing to learn: the fold's share
                models.append(float(target.mean()))
            else:
                models.append(cheap_model().fit(features[:, used], target))
        for start in range(0, len(held_out), CHUNK):
            rows = held_out[start : start + CHUNK]
            chunk = features_of(rows)[:, used]
            for label, model in enumerate(models):
                probabilities[rows, label] = (
                    model if isinstance(model, float) else model.predict_proba(chunk)[:, 1]
                )
    return probabilities


def audit_label_sets(
    frame: pd.DataFrame, prepare: PrepareConfig, *, examples: int
) -> tuple[pd.DataFrame, Step, pd.DataFrame]:
    """`audit_labels` for multi_label rows: confident learning with cleanlab's multi-label filter
    (each label judged one-vs-rest) on out-of-fold probabilities. A row is
    doubtful when a label it carries gets less than `audit_probability`, or one it lacks gets
    more than 1 - `audit_probability`. `suggested_label` lists the labels the cheap model gives
    (probability 0.5 or more); `label_quality` is cleanlab's multi-label quality score."""
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    classes = sorted({label for labels in frame["label"] for label in labels})
    index = {label: i for i, label in enumerate(classes)}
    given = [[index[label] for label in labels] for labels in frame["label"]]
    members = np.zeros((len(frame), len(classes)), dtype=bool)
    for row, ids in enumerate(given):
        members[row, ids] = True
    probabilities = out_of_fold_set_probabilities(frame["text"], members, prepare)
    likely = find_label_issues(given, probabilities, n_jobs=1)
    doubtful = (
        (members & (probabilities < prepare.audit_probability))
        | (~members & (probabilities > 1 - prepare.audit_probability))
    ).any(axis=1)
    quality = get_label_quality_scores(given, probabilities)
    ranked = np.flatnonzero(likely | doubtful)
    ranked = ranked[np.argsort(quality[ranked], kind="stable")]
    names = np.array(classes, dtype=object)
    flagged = frame.iloc[ranked][["row", "text"]].assign(
        label=[list(labels) for labels in frame["label"].iloc[ranked]],
        suggested_label=[names[row >= 0.5].tolist() for row in probabilities[ranked]],
        label_quality=quality[ranked].round(4),
        likely_error=likely[ranked],
    )
    step = audit_step(
        frame,
        flagged,
        likely,
        prepare,
        examples=examples,
        method="confident learning (cleanlab, multi-label) on out-of-fold one-vs-rest TF-IDF + "
        "LR probabilities",
        what="label sets",
        doubts=f"{int(doubtful.sum())} have a label the model doubts (probability on the wrong "
        f"side of {prepare.audit_probability:.0%})",
    )
    return step, flagged


def audit_step(
    frame: pd.DataFrame,
    flagged: pd.DataFrame,
    likely: np.ndarray,
    prepare: PrepareConfig,
    *,
    examples: int,
    method: str,
    what: str,
    doubts: str,
) -> Step:
    """The card's step saying how the labels were judged and what was found."""
    return Step(
        StepName.LABEL_AUDIT,
        f"{method}: {int(likely.sum())} {what} ({likely.mean():.1%}) are likely wrong"
        + (
            " (dropped from the training split: step audit_drop)"
            if prepare.label_audit == "drop"
            else " (kept; prepare.label_audit: drop removes them from the training split)"
        )
        + f"; {doubts}",
        len(frame),
        len(frame),
        changed=int(likely.sum()),
        examples=flagged.drop(columns="row").head(examples).to_dict("records"),
    )


def drop_doubted(
    train: pd.DataFrame, flagged: pd.DataFrame, *, examples: int, scored: bool = False
) -> tuple[pd.DataFrame, Step]:
    """The training split without the rows the audit counts as likely label errors.

    Only the training split: validation and test keep every row, so model choice and the test
    scores stay those of the labels as given. Dropping doubted rows from test would flatter every
    model, and most a TF-IDF one, since the audit doubts a label where TF-IDF + LR's out-of-fold
    prediction disagrees with it. Under cross-validation (`scored`) the training split is
    every row, each scored out of fold, so the dropped rows are not scored either: the card says
    so."""
    doubted = train["row"].isin(flagged.loc[flagged["likely_error"].astype(bool), "row"])
    kept, shown = train[~doubted], train[doubted].head(examples)
    step = Step(
        StepName.AUDIT_DROP,
        f"{int(doubted.sum())} training rows whose labels the audit counts as likely wrong were "
        + (
            "dropped; under cross-validation they are not scored either, which flatters the scores"
            if scored
            else "dropped; validation and test keep theirs"
        ),
        len(train),
        len(kept),
        examples=row_examples(shown["text"], shown),
    )
    return kept, step
