"""The generation settings: defaults for a causal LM, and combinations refused with one line."""

from __future__ import annotations

import pytest

from domaintune.config import build_config, load_config
from domaintune.errors import UserError


def generation(*overrides: str, target: str | None = "headline"):
    data = {"source": "x.csv", "text_column": "article"}
    if target:
        data["target_column"] = target
    return build_config({"task": {"objective": "generation"}, "data": data}, list(overrides))


def test_generation_takes_the_measured_causal_lm_defaults() -> None:
    config = generation()
    assert config.model.name_or_path == "builtin:smollm2-135m"
    train = config.train
    assert (train.method, train.lora_r, train.learning_rate, train.batch_size) == (
        "lora",
        16,
        2e-4,
        8,
    )
    assert train.lora_target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert train.lora_modules_to_save == []
    assert config.prepare.balance == "none" and config.prepare.label_audit == "off"
    assert config.task.description != build_config({}).task.description


def test_a_setting_the_user_gives_wins_over_the_generation_default() -> None:
    config = generation("train.method=full", "train.learning_rate=0.00005")
    assert config.train.method == "full" and config.train.learning_rate == 5e-5


@pytest.mark.parametrize(
    ("overrides", "target", "named"),
    [
        ((), None, "data.target_column"),
        (("prepare.balance=oversample",), "headline", "prepare.balance"),
        (("prepare.label_audit=flag",), "headline", "prepare.label_audit"),
        (("evaluate.decision={label: a, value: 0.9}",), "headline", "evaluate.decision"),
        (("model.long_text=chunks",), "headline", "model.long_text"),
        (("data.label_mapping={a: b}",), "headline", "data.label_mapping"),
        ((), "article", "must differ"),
    ],
)
def test_settings_that_mean_nothing_for_generation_are_refused(
    overrides: tuple[str, ...], target: str | None, named: str
) -> None:
    with pytest.raises(UserError, match=named) as error:
        generation(*overrides, target=target)
    assert "\n" not in str(error.value).strip()


def test_a_target_column_needs_the_generation_objective() -> None:
    with pytest.raises(UserError, match=r"task\.objective: generation"):
        build_config({"data": {"target_column": "headline"}})


def test_language_model_reads_no_target() -> None:
    config = build_config(
        {"task": {"objective": "language_model"}, "data": {"text_column": "body"}}
    )
    assert config.data.label_column == "body"
    with pytest.raises(UserError, match="remove"):
        build_config(
            {"task": {"objective": "language_model"}, "data": {"target_column": "headline"}}
        )


def test_the_ready_bbc_headlines_config_is_generation() -> None:
    config = load_config("bbc-headlines")
    assert config.task.objective == "generation"
    assert config.data.source == "builtin:bbc-headlines"
    assert (config.data.text_column, config.data.target_column) == ("text", "headline")
    assert config.model.name_or_path == "builtin:smollm2-135m"
