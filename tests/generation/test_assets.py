"""The generation built-ins from the package registry: BBC headline pairs and SmolLM2, whose
GGUF is converted once to a plain safetensors folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from domaintune import assets


def test_smollm2_is_pinned_by_the_wheel_and_the_gguf_hashes() -> None:
    model = assets.MODELS["smollm2-135m"]
    assert isinstance(model.archive, assets.Archive)
    assert re.fullmatch(r"[0-9a-f]{64}", model.archive.sha256)
    assert model.gguf and re.fullmatch(r"[0-9a-f]{64}", model.gguf_sha256 or "")
    assert model.kind == "causal_lm"


@pytest.mark.network
def test_bbc_headlines_are_the_first_line_of_each_article() -> None:
    frame = assets.load_dataset("builtin:bbc-headlines")
    assert len(frame) == 2_225
    assert frame["headline"].nunique() == 2_096
    assert frame["headline"].str.split().str.len().median() <= 7
    assert not (frame["text"].str.split("\n").str[0] == frame["headline"]).any()
    assert frame["lead"].str.len().lt(frame["text"].str.len()).mean() > 0.9
    first = frame.loc[frame["file"] == "business/001.txt"].iloc[0]
    assert first["headline"] == "Ad sales boost Time Warner profit"


@pytest.mark.network
@pytest.mark.slow
def test_smollm2_becomes_a_plain_safetensors_folder_once() -> None:
    folder = Path(assets.model_path("builtin:smollm2-135m"))
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config  # de-quantised: trainable
    assert (folder / "model.safetensors").stat().st_size > 500_000_000
    assert (folder / "chat_template.jinja").is_file()
    assert not list(folder.glob("*.gguf"))
    assert assets.is_verified(folder, assets.MODELS["smollm2-135m"].archive)
    assert assets.model_path("builtin:smollm2-135m") == str(folder)  # not converted again
