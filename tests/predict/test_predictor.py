from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from domaintune.config import load_config
from domaintune.data.clean import NORMALIZATION_FIELDS, NORMALIZATION_FILE, NORMALIZATION_VERSION
from domaintune.errors import UserError
from domaintune.longtext import LongText, windows
from domaintune.predict import Predictor, pipeline
from domaintune.predict.backends import TorchBackend
from domaintune.predict.files import read_texts
from domaintune.rundir import RunDir
from domaintune.runfiles import Metrics
from domaintune.temperature import save_temperature
from tests.helpers import domaintune


@pytest.fixture
def classifier(tmp_path: Path, tiny_model: Path) -> Path:
    folder = tmp_path / "classifier"
    config = BertConfig.from_pretrained(tiny_model)
    config.id2label = {0: "neg", 1: "pos"}
    config.label2id = {"neg": 0, "pos": 1}
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return folder


def test_batched_predictions_keep_the_input_order(classifier: Path) -> None:
    predictor = Predictor(classifier)
    texts = [
        "thanks",
        "late delayed cancelled lost rude broken angry",
        "seat",
        "the flight was great",
    ]
    together = predictor.predict_proba(texts, batch_size=2)
    alone = np.vstack([predictor.predict_proba([text]) for text in texts])
    assert together == pytest.approx(alone, abs=1e-5)
    assert predictor.labels == ["neg", "pos"]
    assert set(predictor.predict(texts)) <= {"neg", "pos"}


def test_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a model folder"):
        Predictor(tmp_path)


def test_a_saved_temperature_scales_probabilities_but_not_labels(classifier: Path) -> None:
    texts = ["thanks great", "late delayed cancelled", "seat"]
    raw = Predictor(classifier)
    logits = raw.predict_logits(texts)
    save_temperature(classifier, 2.5, {"fitted_on": "validation"})
    scaled = Predictor(classifier)
    probabilities = scaled.predict_proba(texts)
    expected = np.exp(logits / 2.5) / np.exp(logits / 2.5).sum(axis=1, keepdims=True)
    assert probabilities == pytest.approx(expected, abs=1e-5)
    assert scaled.predict(texts) == raw.predict(texts)


RAW_AND_CLEAN = [
    ("thanks &amp; great flight, it&#039;s awesome", "thanks & great flight, it's awesome"),
    ("donâ€™t love the late delayed flight", "don't love the late delayed flight"),
    ('"seat change for my booking"', "seat change for my booking"),
    ("booking change on 03/12/2024 please", "booking change on 2024-03-12 please"),
    ("  rude  &amp;amp; angry\tcrew ", "rude & angry crew"),
]
"""Raw texts as users have them (HTML entities, mojibake, wrapping quotes, a numeric date, odd
whitespace), each with the text `prepare` writes for it under the default settings."""


def test_raw_text_gets_the_predictions_of_the_cleaned_text(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """Catches `predict` reading raw text differently from the text the model was trained and
    tested on: train must save the normalisation and `Predictor` must apply it. The copy without
    `normalization.json` shows that the model sees other tokens for every raw text when it is not
    normalised, and that this changes its predictions. (Not for every text: a trained tiny model's
    attention can be sharp enough to ignore the tokens that differ.)"""
    raw, clean = (list(texts) for texts in zip(*RAW_AND_CLEAN))
    predictor = Predictor(finished_run.model)
    assert predictor.predict(raw) == predictor.predict(clean)
    assert np.allclose(predictor.predict_proba(raw), predictor.predict_proba(clean), atol=1e-6)

    plain = tmp_path / "plain"
    shutil.copytree(finished_run.model, plain)
    (plain / NORMALIZATION_FILE).unlink()
    as_given = Predictor(plain)
    assert as_given.normalization is None
    for text, cleaned in RAW_AND_CLEAN:
        assert as_given.tokenizer(text)["input_ids"] != as_given.tokenizer(cleaned)["input_ids"]
    assert not np.allclose(as_given.predict_proba(raw), as_given.predict_proba(clean))


def test_train_saves_the_normalisation_of_the_run_as_data(finished_run: RunDir) -> None:
    """Catches a model folder without `normalization.json`, or one whose settings are not the
    ones `prepare` used (here the defaults, with dates written as ISO 8601)."""
    saved = json.loads((finished_run.model / NORMALIZATION_FILE).read_text())
    config = load_config(str(finished_run.config))
    assert saved["version"] == NORMALIZATION_VERSION
    assert saved["settings"] == {
        field: getattr(config.prepare, field) for field in NORMALIZATION_FIELDS
    }
    assert saved["settings"]["dates"] == "iso"
    assert saved["typos_fixed_in_training"] == config.prepare.fix_typos
    # copied from what prepare wrote, so `train --set prepare.*=...` cannot make it disagree
    assert (finished_run.model / NORMALIZATION_FILE).read_bytes() == (
        finished_run.normalization.read_bytes()
    )


def test_predicting_prepared_text_again_gives_evaluates_figures(finished_run: RunDir) -> None:
    """Catches a normalisation that changes text it already normalised: evaluate scores the
    prepared test split through `Predictor`, which normalises again, and the figures it wrote must
    be those of the model on the prepared text."""
    predictions = pd.read_parquet(finished_run.predictions)
    evaluated = Predictor(finished_run.model, backend="torch", precision="fp32")  # as evaluate
    probabilities = evaluated.predict_proba(predictions["text"].tolist())
    expected = predictions.filter(like="p_").to_numpy()
    assert np.allclose(probabilities, expected, atol=1e-5)


def test_the_pipeline_helper_gives_the_predictors_labels_and_probabilities(
    finished_run: RunDir,
) -> None:
    """Catches a helper pipeline that skips the normalisation or the calibration temperature:
    on raw texts its scores would then differ from `Predictor`'s."""
    raw = [text for text, _ in RAW_AND_CLEAN]
    predictor = Predictor(finished_run.model, backend="torch", precision="fp32")  # as pipeline()
    classifier = pipeline(finished_run.model, device="cpu")
    results = classifier(raw, top_k=None)
    scores = np.array(
        [
            [{r["label"]: r["score"] for r in result}[label] for label in predictor.labels]
            for result in results
        ]
    )
    assert np.allclose(scores, predictor.predict_proba(raw), atol=1e-5)
    assert [result["label"] for result in classifier(raw)] == predictor.predict(raw)


def write_rows(path: Path, texts: list[object]) -> Path:
    """A JSONL or Parquet file (by suffix) with a text column holding `texts`."""
    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_predict_refuses_a_null_text_naming_the_file_row_and_column(
    classifier: Path, tmp_path: Path, suffix: str
) -> None:
    """Catches a null text passed on to the tokenizer (a traceback), or an error that does not
    say where the null is: one line naming the file, the row and the column, exit status 2."""
    data = write_rows(tmp_path / f"new{suffix}", ["thanks great", "seat", None, "late"])
    result = domaintune("predict", str(classifier), "--file", str(data), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(data) in lines[0] and "row 3 " in lines[0] and "column 'text'" in lines[0]


@pytest.mark.parametrize(
    ("suffix", "cells", "described"),
    [
        (".jsonl", ["fine", ["a", "list"], ["b"]], "a list"),
        (".jsonl", ["fine", {"an": "object"}, {"b": 1}], "an object"),
        (".parquet", [["x"], ["a", "list"], ["b"]], "a list"),  # a Parquet column has one type
        (".parquet", [{"an": "x"}, {"an": "object"}, {"an": "y"}], "an object"),
    ],
)
def test_a_list_or_object_text_is_refused_with_its_row(
    tmp_path: Path, suffix: str, cells: list[object], described: str
) -> None:
    """Catches a list or object cell turned into a text or a crash: it is refused, with what it
    is, its row (counted from 1) and how many more rows are like it."""
    data = write_rows(tmp_path / f"new{suffix}", cells)
    first = 1 if suffix == ".parquet" else 2
    more = len(cells) - first
    pattern = f"row {first} \\(and {more} more rows\\) has {described} in column 'text'"
    with pytest.raises(UserError, match=pattern):
        read_texts(None, data, text_column="text")


def test_a_folder_with_only_pickled_weights_is_refused_without_unpickling(
    classifier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches loading pytorch_model.bin (unpickling can run code) or a traceback from
    Transformers: the folder is refused before anything is loaded, saying why."""
    model = BertForSequenceClassification.from_pretrained(classifier)
    (classifier / "model.safetensors").unlink()
    torch.save(model.state_dict(), classifier / "pytorch_model.bin")

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called on a pickled checkpoint")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(
        UserError, match=r"no safetensors weights.*pytorch_model\.bin.*only safetensors"
    ):
        Predictor(classifier)


def test_predict_on_a_folder_without_weights_exits_2_with_one_line(
    classifier: Path, tmp_path: Path
) -> None:
    """Catches the Transformers OSError escaping as a traceback for a folder with no weights."""
    (classifier / "model.safetensors").unlink()
    result = domaintune("predict", str(classifier), "--text", "thanks", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no safetensors weights" in lines[0]


def test_predictor_decides_test_texts_as_evaluate_scored_its_rules(finished_run: RunDir) -> None:
    """Catches predict and evaluate disagreeing on the rules: the saved class rule and abstain
    threshold, applied by the one prediction path, must give evaluate's test outcomes."""
    metrics = Metrics.read(finished_run.metrics)
    test = pd.read_parquet(finished_run.split("test"))
    decided = Predictor(finished_run.root, backend="torch", precision="fp32").decide(
        test["text"].tolist()
    )
    rule = metrics.decision.class_rule
    assert rule is not None and rule.test is not None
    flagged = decided["decision"] == "class_rule"
    assert flagged.mean() == pytest.approx(rule.test.flagged_share)
    assert (decided["label"] == test["label"]).mean() == pytest.approx(rule.test.accuracy)
    abstain = metrics.decision.abstain
    if abstain is not None and abstain.test is not None:
        sent_away = decided["decision"] == "abstain"
        kept_by_model = decided["confidence"] >= abstain.test.threshold
        assert (sent_away == (~kept_by_model & ~flagged)).all()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_named_torch_backend_forces_its_precision_on_any_cpu(
    classifier: Path, precision: str
) -> None:
    """Catches `torch-bf16` / `torch-fp32` ignored in favour of what this CPU would pick (the
    bf16 branch then untested on machines without bf16 units), or bf16 giving other labels: each
    runs as named, and the two agree on the labels of a clear tiny model."""
    named = Predictor(classifier, backend=f"torch-{precision}")
    assert named.backend.name == f"torch-{precision}"
    texts = ["great flight", "lost my bag again", "ok"] * 3
    reference = Predictor(classifier, backend="torch", precision="fp32").predict_proba(texts)
    probs = named.predict_proba(texts)
    assert np.allclose(probs, reference, atol=0.02)
    with pytest.raises(UserError, match="disagree"):
        Predictor(
            classifier,
            backend=f"torch-{precision}",
            precision="fp32" if precision == "bf16" else "bf16",
        )


def test_a_backend_already_made_is_used_as_given(classifier: Path) -> None:
    """Catches a backend object passed in being replaced by one chosen anew (the server's
    process would then load a copy of the model it never computes with)."""
    made = TorchBackend(classifier, precision="fp32")
    predictor = Predictor(classifier, backend=made)
    assert predictor.backend is made and predictor.backend_reason == "given"
    texts = ["great flight", "lost my bag again"]
    reference = Predictor(classifier, backend="torch-fp32").predict_proba(texts)
    assert np.allclose(predictor.predict_proba(texts), reference, atol=1e-6)


def test_a_model_of_fields_reads_them_joined_by_its_separator(ticket_classifier: Path) -> None:
    predictor = Predictor(ticket_classifier)
    ticket = {"subject": "Need   help", "body": "my password &amp; code expired", "id": "T-1"}
    assert predictor.model_inputs([ticket]) == ["Need help [SEP] my password & code expired"]
    batch = predictor.encode(predictor.model_inputs([ticket]))
    sep = predictor.tokenizer.sep_token_id
    assert batch["input_ids"][0].tolist().count(sep) == 2  # between the fields, and at the end
    joined = predictor.predict_proba([ticket])
    alone = predictor.predict_proba([{"subject": "", "body": ticket["body"]}])
    assert not np.allclose(joined, alone)  # the subject reaches the model


def test_a_model_of_fields_refuses_a_text_or_a_missing_field(ticket_classifier: Path) -> None:
    predictor = Predictor(ticket_classifier)
    with pytest.raises(UserError, match=r"input 1 is str.*fields subject, body"):
        predictor.predict_proba(["my password expired"])
    with pytest.raises(UserError, match=r"input 2 has no field 'subject'"):
        predictor.predict_proba([{"subject": "a", "body": "b"}, {"body": "b"}])
    with pytest.raises(UserError, match="the field 'body' is not a text"):
        predictor.predict_proba([{"subject": "a", "body": None}])


def test_a_model_of_one_text_refuses_an_object_of_fields(ruled_classifier: Path) -> None:
    with pytest.raises(UserError, match="input 1 is dict: this model reads one text"):
        Predictor(ruled_classifier).predict_proba([{"text": "thanks"}])


def test_the_pipeline_reads_an_object_of_fields_as_the_predictor(ticket_classifier: Path) -> None:
    ticket = {"subject": "Refund", "body": "charged   twice &amp; no receipt"}
    answer = pipeline(ticket_classifier, top_k=None)(ticket)
    probabilities = Predictor(ticket_classifier, backend="torch-fp32").predict_proba([ticket])[0]
    scores = {row["label"]: row["score"] for row in answer}
    labels = Predictor(ticket_classifier, backend="torch-fp32").labels
    assert [scores[label] for label in labels] == pytest.approx(probabilities.tolist(), abs=1e-5)


def test_a_model_trained_on_windows_reads_every_window_and_pools_them(classifier: Path) -> None:
    """Each window's logits as the model gives them alone, pooled as long_text.json says; a text
    that fits reads as under truncation."""
    short, long = "thanks", " ".join(["late delayed cancelled lost rude broken angry"] * 6)
    truncating = Predictor(classifier, backend="torch", precision="fp32")
    LongText(mode="chunks", max_length=16, chunk_overlap=0.25, pooling="max").save(classifier)
    predictor = Predictor(classifier, backend="torch", precision="fp32")
    tokenizer = predictor.tokenizer
    encoded = tokenizer(long, return_special_tokens_mask=True)
    special = encoded.pop("special_tokens_mask")
    pieces = windows(dict(encoded), special, max_length=16, overlap=0.25)
    assert len(pieces) > 2
    alone = np.vstack(
        [predictor.backend.logits({k: np.array([v]) for k, v in piece.items()}) for piece in pieces]
    )
    logits = predictor.predict_logits([long, short], batch_size=2)
    assert logits[0] == pytest.approx(alone.max(axis=0), abs=1e-5)
    assert logits[1] == pytest.approx(truncating.predict_logits([short])[0], abs=1e-5)
    LongText(mode="chunks", max_length=16, chunk_overlap=0.25, pooling="mean").save(classifier)
    with pytest.raises(UserError, match="cannot"):
        pipeline(classifier)  # a transformers pipeline would cut the text, never pool
    assert Predictor(classifier, backend="torch", precision="fp32").predict_logits([long])[
        0
    ] == pytest.approx(alone.mean(axis=0), abs=1e-5)


def test_a_model_of_joined_fields_reads_a_long_ticket_in_windows(
    ticket_classifier: Path, tmp_path: Path
) -> None:
    """Catches fields and long_text: chunks meeting wrongly: the fields windowed one by one, or
    not joined by the separator before windowing, or a dict refused by the windowed path. The
    joined ticket is cut into windows, each read alone, mean-pooled; a ticket that fits reads
    as it does under truncation."""
    folder = Path(shutil.copytree(ticket_classifier, tmp_path / "model"))
    LongText(mode="chunks", max_length=16, chunk_overlap=0.25, pooling="mean").save(folder)
    predictor = Predictor(folder, backend="torch", precision="fp32")
    long = {"subject": "Refund", "body": " ".join(["charged twice and no receipt"] * 6)}
    short = {"subject": "Need help", "body": "my password expired"}
    joined = predictor.model_inputs([long])[0]
    assert joined.startswith("Refund [SEP] charged twice")
    encoded = predictor.tokenizer(joined, return_special_tokens_mask=True)
    special = encoded.pop("special_tokens_mask")
    pieces = windows(dict(encoded), special, max_length=16, overlap=0.25)
    assert len(pieces) > 2
    refund = predictor.tokenizer("Refund", add_special_tokens=False)["input_ids"]
    assert pieces[0]["input_ids"][1 : 1 + len(refund)] == refund  # the subject opens window 1
    alone = np.vstack(
        [predictor.backend.logits({k: np.array([v]) for k, v in piece.items()}) for piece in pieces]
    )
    _, owners = predictor.predict_pieces([long, short], batch_size=2)
    assert owners.tolist() == [0] * len(pieces) + [1]
    logits = predictor.predict_logits([long, short], batch_size=2)
    assert logits[0] == pytest.approx(alone.mean(axis=0), abs=1e-5)
    truncating = Predictor(ticket_classifier, backend="torch", precision="fp32")
    assert logits[1] == pytest.approx(truncating.predict_logits([short])[0], abs=1e-5)
