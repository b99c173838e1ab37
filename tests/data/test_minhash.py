from __future__ import annotations

import numpy as np

from domaintune.data.minhash import groups, signatures, similar_pairs

BASE = "the flight from boston was delayed for three hours and nobody at the gate told us why"


def test_signatures_agree_in_proportion_to_jaccard_similarity() -> None:
    texts = [BASE, BASE.upper() + "!!", BASE.replace("three", "four"), "lost bag in denver"]
    signature = signatures(texts, permutations=128)
    agreement = (signature[0] == signature).mean(axis=1)
    assert agreement[1] == 1.0  # case and punctuation are ignored
    assert 0.6 < agreement[2] < 1.0
    assert agreement[3] < 0.1


def test_signatures_do_not_depend_on_chunking_or_neighbours() -> None:
    texts = [BASE, "a", "", "lost bag in denver"]
    alone = np.vstack([signatures([text], permutations=64) for text in texts])
    assert (signatures(texts, permutations=64) == alone).all()


def test_groups_join_chains_of_near_duplicates_only() -> None:
    texts = [
        BASE,
        BASE + " #fail",
        "lost bag in denver, no help at all",
        "lost bag in denver no help at all!",
    ]
    ids = groups(texts, threshold=0.7, permutations=64)
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]


def test_a_bucket_of_many_copies_gives_linear_pairs() -> None:
    texts = [BASE] * 500
    first, other = similar_pairs(signatures(texts, permutations=64), threshold=0.7)
    assert len(first) == 499 and set(first) == {0} and set(other) == set(range(1, 500))
