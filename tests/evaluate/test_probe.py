from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from domaintune.errors import UserError
from domaintune.evaluate.probe import Encoder, embedded_splits, fit_probe, rows_to_embed
from tests.helpers import make_rows


def test_embeddings_keep_the_input_order_and_ignore_padding(tiny_model: Path) -> None:
    encoder = Encoder(str(tiny_model), max_length=32)
    texts = ["thanks great", "late delayed cancelled lost rude broken angry worst", "seat"]
    together = encoder.embed(texts, batch_size=3)  # padded to the longest text
    alone = np.vstack([encoder.embed([text], batch_size=1) for text in texts])
    assert together.shape == (3, 64)
    assert together == pytest.approx(alone, abs=1e-4)
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.model.parameters())


def test_probe_learns_from_frozen_features_and_caps_training_rows(tiny_model: Path) -> None:
    rows = make_rows(300)
    splits = {"train": rows[:200], "validation": rows[200:250], "test": rows[250:]}
    encoder = Encoder(str(tiny_model), max_length=32)
    predicted, details = fit_probe(
        encoder,
        splits,
        c_grid=[0.1, 1.0],
        max_train_rows=120,
        class_weight=None,
        batch_size=64,
        seed=0,
    )
    accuracy = (predicted == splits["test"]["label"].to_numpy()).mean()
    assert accuracy > 0.5  # three classes: chance is 1/3
    assert details["train_rows_embedded"] == 120
    sample = rows_to_embed(rows, max_rows=90, seed=0)
    assert sample["label"].value_counts().tolist() == [30, 30, 30]


def test_embedded_splits_cap_train_at_random_rows_and_say_which(tiny_model: Path) -> None:
    """Catches the kept positions not matching the embedded rows (the probe would learn each
    text's features with another text's gold), and validation or test cut too."""
    rows = make_rows(60)
    splits = {"train": rows[:40], "validation": rows[40:50], "test": rows[50:]}
    encoder = Encoder(str(tiny_model), max_length=32)
    kept, features = embedded_splits(encoder, splits, max_train_rows=15, batch_size=8, seed=0)
    assert len(kept) == 15 and list(kept) == sorted(set(kept)) and kept.max() < 40
    assert kept.tolist() != list(range(15))  # drawn at random, not the first rows
    chosen = splits["train"]["text"].iloc[kept].tolist()
    assert features["train"] == pytest.approx(encoder.embed(chosen, batch_size=8), abs=1e-5)
    assert (len(features["validation"]), len(features["test"])) == (10, 10)


def test_an_unloadable_model_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="linear probe"):
        Encoder(str(tmp_path), max_length=16)
