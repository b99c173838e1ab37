"""The one model loader: safetensors only, no model's own code, one-line errors naming the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import transformers
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

from domaintune import hub
from domaintune.errors import UserError
from domaintune.models import (
    cast_linear_layers,
    check_model,
    load_classifier,
    load_encoder,
    load_model_config,
    load_tokenizer,
    transformer_layers,
)

CUSTOM_CODE = """import pathlib
pathlib.Path(__file__).with_name("CODE_RAN").write_text("the model's own code ran")
raise SystemExit("the model's own code ran")
"""
"""A model's own code: running it leaves a file beside it (and stops the interpreter)."""


def with_custom_code(folder: Path, model_type: str) -> Path:
    """`folder` with a config.json whose `auto_map` points every Auto class to code in it."""
    (folder / "configuration_custom.py").write_text(CUSTOM_CODE)
    (folder / "modeling_custom.py").write_text(CUSTOM_CODE)
    config = (
        json.loads((folder / "config.json").read_text())
        if (folder / "config.json").is_file()
        else {}
    )
    config["model_type"] = model_type
    config["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModel": "modeling_custom.CustomModel",
        "AutoModelForSequenceClassification": "modeling_custom.CustomClassifier",
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_pretrained_encoder_gets_a_new_head_for_the_given_labels(tiny_model: Path) -> None:
    model = load_classifier(str(tiny_model), labels=["low", "mid", "high"])
    assert isinstance(model, BertForSequenceClassification)
    assert model.config.id2label == {0: "low", 1: "mid", 2: "high"}
    assert model.config.label2id == {"low": 0, "mid": 1, "high": 2}
    tokenizer = load_tokenizer(str(tiny_model))
    with torch.no_grad():
        logits = model(**tokenizer(["thanks great flight"], return_tensors="pt")).logits
    assert logits.shape == (1, 3)


def test_a_new_head_keeps_the_attention_asked_for(tiny_model: Path) -> None:
    """Catches the new head's settings replacing the attention choice (training in bf16 on a CPU
    asks for eager, which was silently dropped)."""
    model = load_classifier(str(tiny_model), labels=["a", "b"], attention="eager")
    assert model.config._attn_implementation == "eager"
    assert load_classifier(str(tiny_model), labels=["a", "b"]).config._attn_implementation == "sdpa"


def test_transformer_layers_are_the_models_stack_lowest_first(tiny_model: Path) -> None:
    model = load_classifier(str(tiny_model), labels=["a", "b"])
    layers = transformer_layers(model)
    assert len(layers) == 2 and layers[0] is model.bert.encoder.layer[0]


def test_a_fine_tuned_classifier_keeps_its_own_head_and_labels(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Catches `labels=None` building a fresh head: the saved head's weights and names stay."""
    saved = load_classifier(str(tiny_model), labels=["neg", "pos"])
    saved.save_pretrained(tmp_path / "fine-tuned")
    loaded = load_classifier(str(tmp_path / "fine-tuned"))
    assert loaded.config.id2label == {0: "neg", 1: "pos"}
    assert torch.equal(loaded.classifier.weight, saved.classifier.weight)
    encoder = load_encoder(str(tiny_model))
    assert not hasattr(encoder, "classifier") and encoder.config.hidden_size == 64


def test_a_folder_with_only_pickled_weights_is_refused_without_unpickling(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches a loader that falls back to pytorch_model.bin: unpickling can run any code."""
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model, folder)
    weights = load_classifier(str(folder), labels=["a", "b"]).state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called on a pickled checkpoint")

    monkeypatch.setattr(torch, "load", no_unpickling)
    for load in (load_classifier, load_encoder):
        with pytest.raises(UserError, match=f"model '{folder}' could not be loaded") as error:
            load(str(folder))
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("make", ["an empty folder", "a Hub id that does not exist"])
def test_a_bad_model_name_is_one_line_naming_it(
    make: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches a Transformers traceback (or a many-line message) reaching the user before any
    work is done. The Hub counts as unreachable, so nothing is fetched."""
    monkeypatch.setattr(hub, "hub_reachable", lambda: False)
    name = str(tmp_path) if make == "an empty folder" else "nobody/no-such-model"
    with pytest.raises(UserError) as error:
        check_model(name)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"model '{name}' could not be loaded (")
    assert "builtin:" in message  # and says what would work


def test_a_models_own_code_is_never_run(tiny_model: Path, tmp_path: Path) -> None:
    """Catches `trust_remote_code=True` anywhere: a config.json whose auto_map points to code in
    the folder. A known architecture loads with Transformers' own classes; an unknown one is
    refused in one line; the folder's code never runs."""
    known = with_custom_code(shutil.copytree(tiny_model, tmp_path / "known"), "bert")
    assert isinstance(load_classifier(str(known), labels=["a", "b"]), BertForSequenceClassification)
    assert load_model_config(str(known)).model_type == "bert"
    assert not (known / "CODE_RAN").exists()

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    with_custom_code(unknown, "custom")
    for load in (load_model_config, check_model, load_classifier, load_encoder):
        with pytest.raises(UserError, match=f"model '{unknown}' could not be loaded"):
            load(str(unknown))
    assert not (unknown / "CODE_RAN").exists()


SMALL = {"vocab_size": 100, "num_labels": 3}
BERT_LIKE = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
ARCHITECTURES = {
    "bert": ("BertConfig", BERT_LIKE),
    "mpnet": ("MPNetConfig", BERT_LIKE),
    "deberta-v2": (
        "DebertaV2Config",
        {
            **BERT_LIKE,
            "relative_attention": True,
            "pos_att_type": ["p2c", "c2p"],
        },
    ),
    "distilbert": ("DistilBertConfig", {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64}),
}


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_linear_layers_stored_in_bf16_give_autocasts_logits_to_the_bit(architecture: str) -> None:
    """Catches inference in bf16 that stores more than the linear layers in bf16 (layer norms and
    embeddings then lose precision autocast keeps), or that changes the logits at all: storing
    the weights autocast would cast on every call must give the same numbers."""
    torch.manual_seed(0)
    name, sizes = ARCHITECTURES[architecture]
    config = getattr(transformers, name)(**SMALL, **sizes)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    ids = torch.randint(3, 100, (4, 12))
    mask = torch.ones_like(ids)
    mask[0, 8:] = 0  # a padded row too
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        before = model(input_ids=ids, attention_mask=mask).logits.float()
        cast_linear_layers(model, torch.bfloat16)
        after = model(input_ids=ids, attention_mask=mask).logits.float()
    assert torch.equal(before, after)
    kinds = {type(m): p.dtype for m in model.modules() for p in m.parameters(recurse=False)}
    assert kinds[torch.nn.Linear] == torch.bfloat16
    assert kinds[torch.nn.LayerNorm] == kinds[torch.nn.Embedding] == torch.float32
