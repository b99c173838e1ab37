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
CHUNK_SHINGLES = 1 << 18
"""Shingles hashed per step: bounds memory at about permutations x 2 MB whatever the corpus size."""
_PRIME = np.uint64(1_000_003)


def _codepoints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts, casefolded, without punctuation and padded to one shingle, as one array of code points, and offsets."""
    padded = [
        " ".join(PUNCTUATION.sub(" ", text.casefold()).split()).ljust(SHINGLE) for text in texts
    ]
    lengths = np.fromiter((len(text) for text in padded), dtype=np.int64, count=len(padded))
    points = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return points.astype(np.uint64), starts, lengths


def signatures(texts: Sequence[str], permutations: int, seed: int = 1) -> np.ndarray:
    """One MinHash signature (uint32, `permutations` long) per text."""
    if not texts:
        return np.zeros((0, permutations), dtype=np.uint32)
    points, starts, lengths = _codepoints(texts)
    counts = lengths - SHINGLE + 1  # shingles per text, at least 1 thanks to the padding
    # Shingle i of a text starts at code point starts + i; its hash folds 5 code points together.
    shingle_text = np.repeat(np.arange(len(texts)), counts)
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    positions = np.arange(int(counts.sum()), dtype=np.int64) + first
    rng = np.random.default_rng(seed)
    multipliers = rng.integers(1, 2**63, size=permutations, dtype=np.uint64) | np.uint64(1)
    offsets = rng.integers(0, 2**63, size=permutations, dtype=np.uint64)
    result = np.full((len(texts), permutations), np.iinfo(np.uint32).max, dtype=np.uint32)
    for begin in range(0, len(positions), CHUNK_SHINGLES):
        chunk = positions[begin : begin + CHUNK_SHINGLES]
        owner = shingle_text[begin : begin + CHUNK_SHINGLES]
        hashed = np.zeros(len(chunk), dtype=np.uint64)
        for k in range(SHINGLE):
            hashed = hashed * _PRIME + points[chunk + k]
        # Multiply-shift hashing: one universal hash per permutation, top 32 bits kept.
        permuted = ((hashed[:, None] * multipliers[None, :] + offsets) >> np.uint64(32)).astype(
            np.uint32
        )
        boundaries = np.flatnonzero(np.diff(owner, prepend=-1))
        minima = np.minimum.reduceat(permuted, boundaries, axis=0)
        owners = owner[boundaries]
        result[owners] = np.minimum(result[owners], minima)
    return result


def similar_pairs(signature: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
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


def groups(texts: Sequence[str], threshold: float, permutations: int) -> np.ndarray:
    """A near-duplicate group id per text."""
    first, other = similar_pairs(signatures(texts, permutations), threshold)
    return components(len(texts), first, other)
