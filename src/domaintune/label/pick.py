"""Which rows to label next: the algorithms, on arrays of L2-normalised embeddings alone.

Two situations, two well-known schemes:

- **Cold start** (no model yet): half the picks are the pool rows nearest each label's name
  (cosine similarity of the name's embedding and the row's), taken round-robin over the labels so
  each label gets its share even when one name is near many rows; the other half are diversity
  picks, the row nearest each centre of a k-means over the whole pool, so the first batch also
  covers the parts of the pool no name points to. The two kinds are interleaved.
- **With a model** (the probabilities of a run's classifier, or of a logistic regression on the
  labelled rows' embeddings): uncertainty and diversity together, as in Zhdanov's "Diverse
  mini-batch active learning" (2019): the `PREFILTER` x k rows of the smallest margin between the
  two most probable labels, then a k-means of those into k clusters, each weighted by its
  uncertainty (1 - margin), and the row nearest each centre. Margin alone would spend the batch
  on near-copies of one confusing text; k-means over the uncertain rows spreads it. A label no
  labelled row has yet (the model cannot know it) first gets its share of picks by its name.

The bench `bench/labeling_curve.py` runs these same functions round after round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

PREFILTER = 10
"""The uncertain rows clustered per row picked (Zhdanov's beta): more spreads the batch wider,
fewer keeps it closer to the most uncertain rows."""
NAME_TEMPERATURE = 0.05
"""Cosine similarities to the label names are divided by this before a softmax, to give a
cold-start suggestion a score: a rough ranking, not a calibrated probability."""


@dataclass(frozen=True)
class Pick:
    """A row of the pool chosen for labelling (its position) and why, in the user's words."""

    row: int
    reason: str


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1, so dot products are cosine similarities."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.clip(norms, 1e-12, None)


def margins(probabilities: np.ndarray) -> np.ndarray:
    """The gap between each row's two most probable labels: small is uncertain."""
    if probabilities.shape[1] < 2:
        return np.ones(len(probabilities))
    top = np.sort(probabilities, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def name_scores(vectors: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Per row, a softmax over the labels of its similarity to each label's name."""
    logits = vectors @ names.T / NAME_TEMPERATURE
    logits -= logits.max(axis=1, keepdims=True)
    scores = np.exp(logits)
    return scores / scores.sum(axis=1, keepdims=True)


def nearest_to_names(
    vectors: np.ndarray, names: np.ndarray, count: int, *, labels: list[str], taken: set[int]
) -> list[Pick]:
    """`count` rows, the next nearest to each name in turn (round-robin), none of `taken`."""
    if count <= 0 or not len(names):
        return []
    order = np.argsort(-(vectors @ names.T), axis=0, kind="stable")  # per name, nearest first
    cursors = [0] * len(names)
    picks: list[Pick] = []
    chosen = set(taken)
    while len(picks) < count and len(chosen) < len(vectors):
        for name in range(len(names)):
            while cursors[name] < len(vectors) and int(order[cursors[name], name]) in chosen:
                cursors[name] += 1
            if cursors[name] == len(vectors) or len(picks) == count:
                continue
            row = int(order[cursors[name], name])
            chosen.add(row)
            picks.append(Pick(row, f"near the name '{labels[name]}'"))
    return picks


def cluster_centres(
    vectors: np.ndarray,
    candidates: np.ndarray,
    count: int,
    *,
    weights: np.ndarray | None = None,
    seed: int,
) -> list[int]:
    """`count` of the `candidates` (positions into `vectors`), spread over them: a k-means of
    the candidates into `count` clusters (weighted by `weights`), and the candidate nearest each
    centre. Fewer candidates than `count`: all of them."""
    if count <= 0:
        return []
    if len(candidates) <= count:
        return [int(row) for row in candidates]
    points = vectors[candidates]
    means = KMeans(n_clusters=count, n_init=1, max_iter=100, random_state=seed)
    clusters = means.fit_predict(points, sample_weight=weights)
    distances = np.linalg.norm(points - means.cluster_centers_[clusters], axis=1)
    chosen: list[int] = []
    for cluster in range(count):
        members = np.flatnonzero(clusters == cluster)
        if len(members):
            chosen.append(int(candidates[members[np.argmin(distances[members])]]))
    if len(chosen) < count:  # an empty cluster: the next candidates in the given order
        left = [int(row) for row in candidates if int(row) not in set(chosen)]
        chosen += left[: count - len(chosen)]
    return chosen


def interleave(first: list[Pick], second: list[Pick]) -> list[Pick]:
    merged: list[Pick] = []
    for index in range(max(len(first), len(second))):
        merged += first[index : index + 1] + second[index : index + 1]
    return merged


def cold_start(
    vectors: np.ndarray,
    names: np.ndarray,
    k: int,
    *,
    labels: list[str],
    exclude: set[int] | None = None,
    seed: int,
) -> list[Pick]:
    """k rows before any model: half nearest the label `names` (one embedding per label of
    `labels`), half k-means centres over the pool, interleaved; none of `exclude`."""
    exclude = exclude or set()
    k = min(k, len(vectors) - len(exclude))
    by_name = nearest_to_names(vectors, names, -(-k // 2), labels=labels, taken=exclude)
    taken = exclude | {pick.row for pick in by_name}
    rest = np.array([row for row in range(len(vectors)) if row not in taken], dtype=np.int64)
    spread = [
        Pick(row, "diversity (k-means centre)")
        for row in cluster_centres(vectors, rest, k - len(by_name), seed=seed)
    ]
    return interleave(by_name, spread)


def uncertain_and_diverse(
    vectors: np.ndarray,
    probabilities: np.ndarray,
    k: int,
    *,
    exclude: set[int] | None = None,
    seed: int,
    prefilter: int = PREFILTER,
) -> list[Pick]:
    """k rows by uncertainty and diversity: the `prefilter` x k rows of smallest margin (none of
    `exclude`), then the row nearest each centre of a k-means into k clusters weighted by
    uncertainty; listed most uncertain first."""
    exclude = exclude or set()
    gap = margins(probabilities)
    allowed = np.array([row for row in range(len(vectors)) if row not in exclude], dtype=np.int64)
    order = allowed[np.argsort(gap[allowed], kind="stable")]
    candidates = order[: max(k, prefilter * k)]
    chosen = cluster_centres(
        vectors, candidates, k, weights=1.0 - gap[candidates] + 1e-6, seed=seed
    )
    chosen.sort(key=lambda row: gap[row])
    return [Pick(row, f"uncertain (margin {gap[row]:.2f})") for row in chosen]


def next_batch(
    vectors: np.ndarray,
    k: int,
    *,
    labels: list[str],
    names: np.ndarray,
    probabilities: np.ndarray | None,
    unknown: list[str],
    exclude: set[int],
    seed: int,
) -> list[Pick]:
    """The next k rows of the pool to label (positions into `vectors`, none of `exclude`).

    Without `probabilities`: `cold_start` from the names of the `unknown` labels (those no row has
    yet; `names` holds one embedding per label of `labels`). With them: each `unknown` label first
    gets its share (k / labels, at least one) of rows nearest its name, then
    `uncertain_and_diverse` picks the rest."""
    wanted = [labels.index(label) for label in unknown]
    if probabilities is None:
        return cold_start(vectors, names[wanted], k, labels=unknown, exclude=exclude, seed=seed)
    share = max(1, k // len(labels)) * len(unknown)
    by_name = nearest_to_names(vectors, names[wanted], min(share, k), labels=unknown, taken=exclude)
    taken = exclude | {pick.row for pick in by_name}
    rest = uncertain_and_diverse(vectors, probabilities, k - len(by_name), exclude=taken, seed=seed)
    return by_name + rest
