from pathlib import Path

import pytest

from domaintune.config import build_config
from domaintune.rundir import RunDir
from domaintune.train.rate import (
    NARROW_RATE,
    WIDE_RATE,
    initial_learning_rate,
    learning_rate_for,
    resolve_learning_rate,
)
from domaintune.train.trainer import run_train
from tests.helpers import FILLER, WORDS, build_tiny_bert, fast_config


def test_narrow_models_train_faster_than_base_size_ones() -> None:
    assert learning_rate_for(384) == NARROW_RATE == 1e-4  # MiniLM-L6
    assert learning_rate_for(768) == WIDE_RATE == 3e-5  # MPNet-base, BERT-base
    assert learning_rate_for(1024) == WIDE_RATE


def test_a_model_that_gives_no_width_gets_the_rate_that_does_not_wreck_a_large_one() -> None:
    assert learning_rate_for(None) == WIDE_RATE


def test_auto_reads_the_width_from_the_model_folder(tmp_path: Path, tiny_model: Path) -> None:
    wide = build_tiny_bert(tmp_path / "wide", {"good", "bad"}, hidden_size=768)
    for folder, rate in ((tiny_model, NARROW_RATE), (wide, WIDE_RATE)):
        config = build_config({}, [f"model.name_or_path={folder}"])
        assert config.train.learning_rate == "auto"
        assert resolve_learning_rate(config).train.learning_rate == rate


def test_a_given_rate_is_kept(tiny_model: Path) -> None:
    config = build_config({}, [f"model.name_or_path={tiny_model}", "train.learning_rate=3e-4"])
    assert resolve_learning_rate(config).train.learning_rate == 3e-4
    assert initial_learning_rate(3e-4) == 3e-4


def test_the_model_is_chosen_before_its_rate() -> None:
    with pytest.raises(ValueError, match="chosen before"):
        resolve_learning_rate(build_config({}, []))


@pytest.mark.slow
def test_training_uses_and_records_the_rate_of_the_models_width(
    tmp_path: Path, tickets_csv: Path
) -> None:
    """Catches `auto` left at the small models' rate for a wide model: the Trainer's logged
    rates (warmup, then a linear decay) must peak at the wide rate."""
    from domaintune.data.prepare import run_prepare

    words = {w for words in WORDS.values() for w in words.split()} | set(FILLER)
    wide = build_tiny_bert(tmp_path / "wide", words, hidden_size=768)
    config = fast_config(
        tickets_csv,
        wide,
        "train.learning_rate=auto",
        "train.epochs=1",
        "train.logging_steps=1",
    )
    run = RunDir(tmp_path / "run")
    run_prepare(config, run)
    log = run_train(config, run)
    assert log.learning_rate == WIDE_RATE
    rates = [entry["learning_rate"] for entry in log.history if "learning_rate" in entry]
    assert rates and max(rates) == pytest.approx(WIDE_RATE, rel=0.2)
    assert "learning_rate: 3.0e-05" in run.config.read_text()
