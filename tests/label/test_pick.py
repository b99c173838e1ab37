"""The picking algorithms on made-up embeddings whose answer is known."""

from __future__ import annotations

import numpy as np

from domaintune.label.pick import (
    cold_start,
    margins,
    name_scores,
    next_batch,
    normalised,
    uncertain_and_diverse,
)

LABELS = ["billing", "login", "bug"]


def clusters(sizes: list[int], *, seed: int = 0, spread: float = 0.05) -> np.ndarray:
    """Rows around the first axes, one cluster per size: cluster i lies along axis i."""
    rng = np.random.default_rng(seed)
    rows = [np.eye(8)[i] + spread * rng.standard_normal((size, 8)) for i, size in enumerate(sizes)]
    return normalised(np.vstack(rows))


def test_cold_start_picks_k_distinct_rows_near_each_name_and_spread_over_the_pool() -> None:
    vectors = clusters([40, 40, 40, 40])  # a fourth cluster no label name points to
    names = normalised(np.eye(8)[:3])
    picks = cold_start(vectors, names, 8, labels=LABELS, exclude={0, 1}, seed=0)
    rows = [pick.row for pick in picks]
    assert len(rows) == 8 == len(set(rows))
    assert not {0, 1} & set(rows)
    named = [pick for pick in picks if pick.reason.startswith("near the name")]
    assert len(named) == 4
    for label, cluster in zip(LABELS, range(3)):  # each name's picks come from its own cluster
        mine = [p.row for p in named if f"'{label}'" in p.reason]
        assert mine and all(cluster * 40 <= row < (cluster + 1) * 40 for row in mine)
    diverse = {pick.row // 40 for pick in picks if pick.reason.startswith("diversity")}
    assert 3 in diverse  # the cluster without a name is covered too
    assert picks[0].reason.startswith("near") and picks[1].reason.startswith("diversity")


def test_uncertain_and_diverse_spreads_the_batch_over_the_uncertain_rows() -> None:
    """The most uncertain rows are near-copies in one cluster; a second cluster is almost as
    uncertain. Margin alone would take the copies; the batch must reach both clusters and
    nothing certain."""
    vectors = clusters([50, 50, 50], spread=0.01)
    probabilities = np.tile([0.98, 0.01, 0.01], (150, 1))
    probabilities[:50] = [0.50, 0.49, 0.01]  # cluster 0: the most uncertain
    probabilities[50:100] = [0.55, 0.44, 0.01]  # cluster 1: nearly as uncertain
    picks = uncertain_and_diverse(vectors, probabilities, 6, exclude={0}, seed=0)
    rows = [pick.row for pick in picks]
    assert len(set(rows)) == 6 and 0 not in rows
    assert {row // 50 for row in rows} == {0, 1}
    gaps = margins(probabilities)[rows]
    assert list(gaps) == sorted(gaps)  # most uncertain first
    assert picks[0].reason == "uncertain (margin 0.01)"


def test_a_label_without_labelled_rows_gets_picks_by_its_name_beside_the_uncertain_ones() -> None:
    vectors = clusters([30, 30, 30])
    names = normalised(np.eye(8)[:3])
    probabilities = np.tile([0.6, 0.4], (90, 1))  # the model knows billing and login only
    picks = next_batch(
        vectors, 9, labels=LABELS, names=names, probabilities=probabilities,
        unknown=["bug"], exclude=set(), seed=0,
    )  # fmt: skip
    named = [pick.row for pick in picks if pick.reason == "near the name 'bug'"]
    assert len(named) == 3 and all(60 <= row < 90 for row in named)
    assert len({pick.row for pick in picks}) == 9


def test_name_scores_are_probabilities_that_favour_the_nearest_name() -> None:
    scores = name_scores(clusters([5, 5, 5]), normalised(np.eye(8)[:3]))
    assert np.allclose(scores.sum(axis=1), 1)
    assert scores.argmax(axis=1).tolist() == [0] * 5 + [1] * 5 + [2] * 5
