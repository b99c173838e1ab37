"""The linear-probe baseline: what the pre-trained model knows before any fine-tuning.

The frozen pre-trained encoder turns each text into its mean-pooled token embedding, and a logistic
regression is fitted on those. If the fine-tuned model is not clearly ahead of this, fine-tuning
bought nothing a cheap classifier on frozen features could not. With several text fields it
embeds `text`, the fields joined with " | " (as the TF-IDF baseline reads them), not the model's
own input with separator tokens: the pre-trained encoder has no fine-tuned use for them.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from domaintune import assets
from domaintune.errors import UserError
from domaintune.evaluate.regularization import fit_best_c, logistic_regression
from domaintune.models import load_encoder, load_tokenizer
from domaintune.predict.predictor import length_batches

PROBE_REMEDY = "linear probe: {error} (or remove linear_probe from evaluate.baselines)"
"""What a model that cannot be loaded means to the evaluate stage."""


class Encoder:
    """A frozen pre-trained encoder that embeds texts by mean-pooling its last hidden states.

    `remedy` words the error of a model that cannot be loaded for the caller (`{error}`: the
    loader's message): the probe's differs from `domaintune label pick`'s."""

    def __init__(self, name_or_path: str, *, max_length: int, remedy: str = PROBE_REMEDY) -> None:
        source = assets.model_path(name_or_path)
        try:
            self.tokenizer = load_tokenizer(source)
            self.model = load_encoder(source).eval()
        except UserError as error:
            raise UserError(remedy.format(error=error)) from None
        self.model.requires_grad_(False)
        self.max_length = max_length

    @torch.inference_mode()
    def embed(self, texts: list[str], *, batch_size: int, progress: bool = False) -> np.ndarray:
        """One vector per text, in the input's order; texts are batched by length. `progress`:
        a bar of batches on stdout (a command's own progress goes there)."""
        vectors: np.ndarray | None = None
        batches = length_batches(
            self.tokenizer, texts, batch_size=batch_size, max_length=self.max_length
        )
        total = -(-len(texts) // batch_size)
        bar = tqdm(
            batches,
            total=total,
            desc="embedding",
            unit="batch",
            disable=not progress,
            file=sys.stdout,
        )
        for rows, encoded in bar:
            batch = {key: torch.from_numpy(value) for key, value in encoded.items()}
            hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            if vectors is None:
                vectors = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            vectors[rows] = pooled.numpy()
        return vectors if vectors is not None else np.zeros((0, 0), dtype=np.float32)


def probe_classifier(c: float, *, class_weight: str | None, seed: int) -> Pipeline:
    return make_pipeline(
        StandardScaler(), logistic_regression(c, class_weight=class_weight, seed=seed)
    )


def rows_to_embed(train: pd.DataFrame, *, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` training rows, drawn per class in proportion, so embedding stays cheap."""
    if len(train) <= max_rows:
        return train
    share = max_rows / len(train)
    return train.groupby("label", group_keys=False).sample(frac=share, random_state=seed)


def embedded_splits(
    encoder: Encoder,
    splits: dict[str, pd.DataFrame],
    *,
    max_train_rows: int,
    batch_size: int,
    seed: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The embeddings of train, validation and test, train cut to at most `max_train_rows` rows
    drawn at random so embedding stays cheap, and the positions of the rows it kept (to pick their
    gold values). For label sets and values, which cannot be drawn per class as labels are."""
    kept = np.random.default_rng(seed).permutation(len(splits["train"]))
    kept = np.sort(kept[:max_train_rows])
    texts = {
        "train": splits["train"]["text"].iloc[kept].tolist(),
        "validation": splits["validation"]["text"].tolist(),
        "test": splits["test"]["text"].tolist(),
    }
    return kept, {
        name: encoder.embed(values, batch_size=batch_size) for name, values in texts.items()
    }


def fit_probe(
    encoder: Encoder,
    splits: dict[str, pd.DataFrame],
    *,
    c_grid: list[float],
    max_train_rows: int,
    class_weight: str | None,
    batch_size: int,
    seed: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Test predictions of the probe, and how it was chosen (C by validation macro-F1)."""
    train = rows_to_embed(splits["train"], max_rows=max_train_rows, seed=seed)
    features = {
        name: encoder.embed(frame["text"].tolist(), batch_size=batch_size)
        for name, frame in (("train", train), *((n, splits[n]) for n in ("validation", "test")))
    }
    model, best_c, validation_macro_f1 = fit_best_c(
        lambda c: probe_classifier(c, class_weight=class_weight, seed=seed),
        c_grid=c_grid,
        train=(features["train"], train["label"]),
        validation=(features["validation"], splits["validation"]["label"]),
    )
    return model.predict(features["test"]), {
        "description": "logistic regression on the frozen pre-trained model's mean-pooled "
        "embeddings, its regularisation chosen on the validation split",
        "c": best_c,
        "class_weight": class_weight,
        "train_rows_embedded": len(train),
        "validation_macro_f1": validation_macro_f1,
    }
