"""Near-duplicate groups in linear time: MinHash signatures, LSH banding, connected components.

Texts are compared as sets of character 5-grams, ignoring case and punctuation (robust to a
changed word in a short text). The
signatures are computed for all texts at once with numpy: datasketch's per-text `MinHash.bulk`
measured 367 us a tweet here, six minutes for a million rows, against seconds vectorised. The
banding (bands x rows) is datasketch's optimum for the threshold (`MinHashLSH.b`, `.r`); texts that
share a band are candidates, and a candidate pair counts when its signatures agree on at least the
threshold's share of positions (the MinHash estimate of Jaccard similarity). Within a band bucket
each text is compared with the bucket's first text only, so a bucket of many copies costs linear,
not quadratic, time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from datasketch import MinHashLSH
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SHINGLE = 5
PUNCTUATION = re.compile(r"[^\w\s]+")
"""Removed before shingling: `Done` and `Done !!` are the same message."""
CHUNK_TEXTS = 2048
"""Texts hashed per step: memory stays near permutations x 1 MB whatever the corpus size."""
_PRIME = np.uint64(1_000_003)


def _shingle_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash per character 5-gram, and which text each belongs to.

    Texts are casefolded, stripped of punctuation and padded to one shingle, then laid end to end
    as code points; shingle i of a text folds the 5 code points from its start + i together.
    """
    padded = [
        " ".join(PUNCTUATION.sub(" ", text.casefold()).split()).ljust(SHINGLE) for text in texts
    ]
    lengths = np.fromiter((len(text) for text in padded), dtype=np.int64, count=len(padded))
    points = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    counts = lengths - SHINGLE + 1
    owner = np.repeat(np.arange(len(texts)), counts)
    positions = np.arange(int(counts.sum())) + np.repeat(
        starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts
    )
    hashed = np.zeros(len(positions), dtype=np.uint64)
    for k in range(SHINGLE):
        hashed = hashed * _PRIME + points[positions + k]
    return hashed, owner


def signatures(texts: Sequence[str], *, permutations: int, seed: int = 1) -> np.ndarray:
    """One MinHash signature (uint32, `permutations` long) per text."""
    rng = np.random.default_rng(seed)
    multipliers = rng.integers(1, 2**63, size=permutations, dtype=np.uint64) | np.uint64(1)
    offsets = rng.integers(0, 2**63, size=permutations, dtype=np.uint64)
    result = np.empty((len(texts), permutations), dtype=np.uint32)
    for begin in range(0, len(texts), CHUNK_TEXTS):
        hashed, owner = _shingle_hashes(texts[begin : begin + CHUNK_TEXTS])
        # Multiply-shift hashing: one universal hash per permutation, top 32 bits kept.
        permuted = (hashed[:, None] * multipliers + offsets) >> np.uint64(32)
        boundaries = np.flatnonzero(np.diff(owner, prepend=-1))
        result[begin : begin + len(boundaries)] = np.minimum.reduceat(
            permuted, boundaries, axis=0
        ).astype(np.uint32)
    return result


def similar_pairs(signature: np.ndarray, *, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (first, other) of texts whose estimated Jaccard similarity reaches `threshold`."""
    count, permutations = signature.shape
    lsh = MinHashLSH(threshold=threshold, num_perm=permutations)
    firsts, others = [], []
    for band in range(lsh.b):
        columns = signature[:, band * lsh.r : (band + 1) * lsh.r].astype(np.uint64)
        key = np.zeros(count, dtype=np.uint64)
        for column in columns.T:
            key = key * _PRIME + column
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        new_bucket = np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]])
        bucket_first = order[np.maximum.accumulate(np.where(new_bucket, np.arange(count), 0))]
        member = ~new_bucket
        firsts.append(bucket_first[member])
        others.append(order[member])
    first = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
    other = np.concatenate(others) if others else np.zeros(0, dtype=np.int64)
    if len(first):
        pairs = np.unique(np.stack([first, other], axis=1), axis=0)
        first, other = pairs[:, 0], pairs[:, 1]
    agreement = (signature[first] == signature[other]).mean(axis=1) if len(first) else first
    keep = agreement >= threshold
    return first[keep], other[keep]


def components(count: int, first: np.ndarray, other: np.ndarray) -> np.ndarray:
    """A group id per text: texts joined by a chain of near-duplicate pairs share one."""
    graph = coo_matrix((np.ones(len(first), dtype=np.int8), (first, other)), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def groups(texts: Sequence[str], *, threshold: float, permutations: int) -> np.ndarray:
    """A near-duplicate group id per text."""
    signature = signatures(texts, permutations=permutations)
    first, other = similar_pairs(signature, threshold=threshold)
    return components(len(texts), first, other)
