"""prepare for generation: targets cleaned and required, duplicates judged on the input,
token lengths with the limits counted in the card."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import build_config
from domaintune.data.prepare import prepare_data
from domaintune.errors import UserError
from tests.helpers import make_headline_pairs


def config_for(path: Path, model: Path, *overrides: str):
    return build_config(
        {
            "task": {"objective": "generation"},
            "data": {"source": str(path), "text_column": "article", "target_column": "headline"},
            "model": {"name_or_path": str(model)},
        },
        ["prepare.drop_near_duplicates=false", "prepare.language=any", *overrides],
    )


def test_empty_targets_are_dropped_and_duplicates_judged_on_the_input(
    tmp_path: Path, tiny_llama: Path
) -> None:
    frame = make_headline_pairs(120)
    frame.loc[0, "headline"] = "   "
    frame.loc[1, "headline"] = None
    copy = frame.iloc[[5]].assign(headline="another headline")  # the same article again
    frame = pd.concat([frame, copy], ignore_index=True)
    path = tmp_path / "pairs.csv"
    frame.to_csv(path, index=False)
    prepared = prepare_data(config_for(path, tiny_llama))
    card = prepared.card
    assert card.step("missing_label").removed == 2
    assert card.step("exact_duplicates").removed == 1
    assert card.rows_kept == 120 - 2
    kept = pd.concat(prepared.splits.values())
    assert kept["label"].str.strip().ne("").all()
    assert card.objective == "generation" and card.labels == ["headline"]


def test_token_counts_and_cuts_are_in_the_card(tmp_path: Path, tiny_llama: Path) -> None:
    path = tmp_path / "pairs.csv"
    make_headline_pairs(120).to_csv(path, index=False)
    card = prepare_data(config_for(path, tiny_llama, "generation.max_input_tokens=8")).card
    inputs = card.tokens["input"]
    assert inputs["train"].limit == 8
    assert inputs["train"].cut == card.split.rows["train"]  # every article is 11 tokens
    assert card.tokens["target"]["train"].max == 4


def test_a_missing_target_column_is_one_line_naming_it(tmp_path: Path, tiny_llama: Path) -> None:
    path = tmp_path / "pairs.csv"
    make_headline_pairs(60).drop(columns="headline").to_csv(path, index=False)
    with pytest.raises(UserError, match=r"no column 'headline'.*--target-column"):
        prepare_data(config_for(path, tiny_llama))


def test_targets_empty_everywhere_are_refused(tmp_path: Path, tiny_llama: Path) -> None:
    path = tmp_path / "pairs.csv"
    make_headline_pairs(60).assign(headline="").to_csv(path, index=False)
    with pytest.raises(UserError, match="empty in every row"):
        prepare_data(config_for(path, tiny_llama))


def test_inspect_shows_token_lengths_instead_of_classes(tmp_path: Path, tiny_llama: Path) -> None:
    from domaintune.data.inspect import inspect_data

    path = tmp_path / "pairs.csv"
    make_headline_pairs(120).to_csv(path, index=False)
    _, rows, advice = inspect_data(config_for(path, tiny_llama))
    checks = dict(rows)
    assert "classes" not in checks and "balance" not in checks
    assert checks["target tokens (train)"].startswith("median 4")
    assert advice
