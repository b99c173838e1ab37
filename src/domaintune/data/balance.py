"""Balance the classes of the training split; validation and test keep the real class mix."""

from __future__ import annotations

import pandas as pd

from domaintune.data.card import Step, StepName, class_counts
from domaintune.data.labels import label_counts as labels_of_sets


def balance(
    train: pd.DataFrame,
    *,
    method: str,
    seed: int,
    multi_label: bool = False,
) -> tuple[pd.DataFrame, Step]:
    """Undersample to the smallest class or oversample to the largest; other methods change no rows.

    `class_weights` is applied by training as a weighted loss, so the rows stay as they are.
    `multi_label`: the rows hold label sets, counted per label; the config allows them only
    `none` and `class_weights`.
    """
    counts = labels_of_sets if multi_label else pd.Series.value_counts
    label_counts, rows_before = counts(train["label"]), len(train)
    if method == "undersample":
        train = train.groupby("label", group_keys=False).sample(
            n=int(label_counts.min()), random_state=seed
        )
    elif method == "oversample":
        train = train.groupby("label", group_keys=False).sample(
            n=int(label_counts.max()), replace=True, random_state=seed
        )
    train = train.sample(frac=1, random_state=seed).reset_index(drop=True)
    descriptions = {
        "none": "kept the training split's class mix as it is",
        "undersample": "undersampled every class of the training split to the smallest class",
        "oversample": "oversampled every class of the training split to the largest class",
        "class_weights": "kept the rows; training weighs each class inversely to its frequency",
    }
    if multi_label and method == "class_weights":
        descriptions[method] = "kept the rows; training weighs each label's positives by pos_weight"
    step = Step(
        StepName.BALANCE,
        descriptions[method],
        rows_before,
        len(train),
        examples=[
            {
                "before": {str(k): int(v) for k, v in label_counts.items()},
                "after": class_counts(train["label"], counts=counts),
            }
        ],
    )
    return train, step
