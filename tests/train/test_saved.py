"""The model folder both training methods leave: what prediction reads beside the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from domaintune.config import PrepareConfig
from domaintune.data.clean import save_normalization
from domaintune.data.fields import FIELDS_FILE
from domaintune.longtext import LONG_TEXT_FILE, LongText
from domaintune.predict import Predictor
from domaintune.train.saved import write_model_folder


@pytest.fixture()
def classifier(tiny_model: Path):
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model, num_labels=2, id2label={0: "bad", 1: "good"}
    )
    return model, AutoTokenizer.from_pretrained(tiny_model)


def prepared(folder: Path, *, fields: bool) -> Path:
    folder.mkdir()
    normalization = save_normalization(folder, PrepareConfig())
    if fields:
        (folder / FIELDS_FILE).write_text(json.dumps({"fields": ["a", "b"]}), encoding="utf-8")
    return normalization


def test_the_folder_holds_what_prediction_reads(tmp_path: Path, classifier) -> None:
    model, tokenizer = classifier
    normalization = prepared(tmp_path / "data", fields=False)
    reading = LongText(mode="head_tail", max_length=24)
    write_model_folder(
        tmp_path / "model", model, tokenizer, long_text=reading, normalization=normalization
    )
    saved = tmp_path / "model"
    assert (saved / "model.safetensors").is_file()
    assert not list(saved.glob("*.bin"))  # never pickled weights
    assert (saved / "normalization.json").read_text() == normalization.read_text()
    assert not (saved / FIELDS_FILE).exists()  # one text field: prediction takes plain texts
    assert json.loads((saved / LONG_TEXT_FILE).read_text())["mode"] == "head_tail"
    assert AutoTokenizer.from_pretrained(saved).model_max_length == 24  # training's limit
    assert Predictor(saved, backend="torch").labels == ["bad", "good"]


def test_fields_travel_with_the_model(tmp_path: Path, classifier) -> None:
    model, tokenizer = classifier
    normalization = prepared(tmp_path / "data", fields=True)
    reading = LongText(max_length=32)
    write_model_folder(
        tmp_path / "model", model, tokenizer, long_text=reading, normalization=normalization
    )
    assert (tmp_path / "model" / FIELDS_FILE).read_text() == (
        tmp_path / "data" / FIELDS_FILE
    ).read_text()


def test_a_failed_write_leaves_no_folder(tmp_path: Path, classifier) -> None:
    model, tokenizer = classifier
    missing = tmp_path / "data" / "normalization.json"  # prepare's file is not there
    with pytest.raises(FileNotFoundError):
        write_model_folder(
            tmp_path / "model",
            model,
            tokenizer,
            long_text=LongText(max_length=32),
            normalization=missing,
        )
    assert not (tmp_path / "model").exists()  # nothing half-written under the final name
    assert not list(tmp_path.iterdir())
