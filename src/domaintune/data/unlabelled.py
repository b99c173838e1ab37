"""Unlabelled texts for distillation (data.unlabelled): which of the cleaned ones are kept.

A text that repeats or nearly repeats a labelled row of any split is dropped: through its
unlabelled twin, the teacher's probabilities for a test or validation text would reach the
student, and the student's test score would no longer be held out; a training row's twin adds
nothing its labelled copy does not teach. Near-duplicates among the unlabelled texts keep their
first, as labelled ones do. Both use the labelled data's MinHash settings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName
from domaintune.data.dedup import PRECEDENCE
from domaintune.data.minhash import components, signatures, similar_pairs

SPLIT_OF_RANK = {rank: name for name, rank in PRECEDENCE.items()}


def twin_ranks(
    pool: pd.DataFrame, splits: dict[str, pd.DataFrame], prepare: PrepareConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pool text, the `PRECEDENCE` rank of the most held-out split holding a labelled
    text it repeats or nearly repeats (len(PRECEDENCE) where none does); and the near-duplicate
    pairs (first, other) among pool texts, by position in `pool`."""
    labelled = pd.concat(
        [
            pd.DataFrame({"text": part["text"], "rank": PRECEDENCE[name]})
            for name, part in splits.items()
        ],
        ignore_index=True,
    )
    none = len(PRECEDENCE)
    best = labelled.groupby(labelled["text"].str.casefold())["rank"].min()
    ranks = pool["text"].str.casefold().map(best).fillna(none).to_numpy(dtype=np.int64)
    signature = signatures(
        [*labelled["text"], *pool["text"]], permutations=prepare.minhash_permutations
    )
    first, other = similar_pairs(signature, threshold=prepare.near_duplicate_threshold)
    low, high = np.minimum(first, other), np.maximum(first, other)
    count = len(labelled)
    across = (low < count) & (high >= count)
    np.minimum.at(ranks, high[across] - count, labelled["rank"].to_numpy()[low[across]])
    within = low >= count
    return ranks, low[within] - count, high[within] - count


def drop_labelled_twins(
    pool: pd.DataFrame,
    splits: dict[str, pd.DataFrame],
    prepare: PrepareConfig,
    *,
    examples: int,
) -> tuple[pd.DataFrame, list[Step], dict[str, int]]:
    """The pool without twins of labelled rows and without its own near-duplicates; the two
    steps, and the twins dropped by the split of their labelled row."""
    ranks, first, other = twin_ranks(pool, splits, prepare)
    twin = ranks < len(PRECEDENCE)
    twins = {name: int((ranks == rank).sum()) for name, rank in PRECEDENCE.items()}
    shown = pool[twin].head(examples)
    twin_step = Step(
        StepName.LABELLED_TWINS,
        "dropped texts that repeat or nearly repeat (estimated Jaccard similarity of character "
        f"5-grams >= {prepare.near_duplicate_threshold}) a labelled text of any split, so that "
        "the teacher's view of held-out texts never reaches the student",
        len(pool),
        int((~twin).sum()),
        examples=[
            {"text": text, "split": SPLIT_OF_RANK[rank]}
            for text, rank in zip(shown["text"], ranks[twin])
        ],
    )
    both = ~twin[first] & ~twin[other]
    group = components(len(pool), first[both], other[both])
    repeat = pd.Series(group).duplicated(keep="first").to_numpy() & ~twin
    drop = repeat if prepare.drop_near_duplicates else np.zeros(len(pool), dtype=bool)
    action = "dropped" if prepare.drop_near_duplicates else "kept"
    near_step = Step(
        StepName.NEAR_DUPLICATES,
        f"{action} near-duplicates (estimated Jaccard similarity >= "
        f"{prepare.near_duplicate_threshold}) of another unlabelled text, keeping the first",
        int((~twin).sum()),
        int((~twin & ~drop).sum()),
        changed=int(repeat.sum()),
        examples=[{"text": text} for text in pool["text"][drop].head(examples)],
    )
    return pool[~twin & ~drop], [twin_step, near_step], twins
