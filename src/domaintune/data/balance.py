"""Balance the classes of the training split; validation and test keep the real class mix."""

from __future__ import annotations

import pandas as pd

from domaintune.data.card import Step, StepName, class_counts


def balance(train: pd.DataFrame, *, method: str, seed: int) -> tuple[pd.DataFrame, Step]:
    """Undersample to the smallest class or oversample to the largest; other methods change no rows.

    `class_weights` is applied by training as a weighted loss, so the rows stay as they are.
    """
    counts = train["label"].value_counts()
    if method == "undersample":
        train = train.groupby("label", group_keys=False).sample(
            n=int(counts.min()), random_state=seed
        )
    elif method == "oversample":
        train = train.groupby("label", group_keys=False).sample(
            n=int(counts.max()), replace=True, random_state=seed
        )
    train = train.sample(frac=1, random_state=seed).reset_index(drop=True)
    descriptions = {
        "none": "kept the training split's class mix as it is",
        "undersample": "undersampled every class of the training split to the smallest class",
        "oversample": "oversampled every class of the training split to the largest class",
        "class_weights": "kept the rows; training weighs each class inversely to its frequency",
    }
    step = Step(
        StepName.BALANCE,
        descriptions[method],
        int(counts.sum()),
        len(train),
        examples=[
            {
                "before": {str(k): int(v) for k, v in counts.items()},
                "after": class_counts(train["label"]),
            }
        ],
    )
    return train, step
