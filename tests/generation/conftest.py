"""Fixtures for generation: a tiny random llama causal LM with a chat template, built locally
(no downloads), headline pairs on disk, and one real `domaintune run --objective generation`."""

from __future__ import annotations

from pathlib import Path

import pytest

from domaintune.rundir import RunDir
from tests.helpers import GENERATION_TRAINING, build_tiny_llama, domaintune, write_headline_pairs


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def generation_settings(model: Path, *extra: str) -> list[str]:
    overrides = [*GENERATION_TRAINING, *extra]
    return ["--model", str(model), *(part for key in overrides for part in ("--set", key))]


@pytest.fixture(scope="session")
def generated_run(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> RunDir:
    """One real run of the whole CLI on headline pairs, shared by tests that read its outputs."""
    folder = tmp_path_factory.mktemp("generation-e2e")
    data = write_headline_pairs(folder)
    result = domaintune(
        "run",
        "--data",
        str(data),
        "--objective",
        "generation",
        "--text-column",
        "article",
        "--target-column",
        "headline",
        *generation_settings(tiny_llama),
        "--out",
        "runs/pairs",
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return RunDir(folder / "runs/pairs")
