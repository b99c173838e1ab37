"""`domaintune run --objective generation` end to end with a tiny causal LM: every stage, the
run files, the report, predict, and the saved model in `transformers.pipeline`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard, GenerationMetrics, TrainLog
from tests.helpers import HEADLINES, domaintune

pytestmark = pytest.mark.slow


def test_metrics_carry_the_headline_figures(generated_run: RunDir) -> None:
    raw = json.loads(generated_run.metrics.read_text())
    for key in ("perplexity", "perplexity_base", "rougeL", "rougeL_base", "rougeL_lead"):
        assert isinstance(raw[key], float), key
    metrics = GenerationMetrics.read(generated_run.metrics)
    assert 0 <= metrics.rougeL <= 1 and 0 <= metrics.rougeL_lead <= 1
    # the tiny model learns the three headlines: the targets become far more likely
    assert metrics.perplexity * 3 < metrics.perplexity_base
    low, high = metrics.perplexity_interval
    assert low <= metrics.perplexity <= high
    assert set(metrics.rouge) == {"fine_tuned", "base", "lead"}
    assert set(metrics.significance) == {"base", "lead"}
    assert metrics.rouge_rows == min(30, metrics.test_rows)
    assert metrics.best and metrics.worst
    assert metrics.best[0].rougeL >= metrics.worst[0].rougeL


def test_the_fine_tuned_model_writes_the_headlines(generated_run: RunDir) -> None:
    metrics = GenerationMetrics.read(generated_run.metrics)
    assert metrics.rougeL > metrics.rougeL_base
    assert metrics.significance["base"].verdict == "better"
    predictions = pd.read_parquet(generated_run.predictions)
    written = predictions["generated"].dropna()
    assert len(written) == metrics.rouge_rows
    assert (written == predictions.loc[written.index, "reference"]).mean() > 0.5


def test_card_and_log_count_tokens_and_cuts(generated_run: RunDir) -> None:
    card = DataCard.read(generated_run.card)
    assert card.objective == "generation"
    assert card.tokens is not None
    assert set(card.tokens) == {"input", "target"}
    assert card.tokens["input"]["train"].limit == 64
    assert card.tokens["target"]["train"].max <= card.tokens["target"]["train"].limit
    log = TrainLog.read(generated_run.train_log)
    assert log.best_validation_loss is not None
    assert log.steps <= 150
    assert log.precision == "fp32"


def test_the_report_has_the_generative_sections(generated_run: RunDir) -> None:
    text = generated_run.report_md.read_text()
    for heading in ("Dataset insights", "Training process", "Perplexity", "ROUGE against",
                    "Samples", "Strengths", "Weaknesses", "Next steps"):  # fmt: skip
        assert heading in text, heading
    assert "{{" not in text and "None" not in text.split("## 4.")[0]
    assert generated_run.report_html.is_file()


def test_the_saved_model_loads_in_a_text_generation_pipeline(generated_run: RunDir) -> None:
    from transformers import pipeline

    folder = generated_run.model
    assert not [p for p in folder.iterdir() if "adapter" in p.name]
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: text-generation" in card and '"role": "system"' in card
    prompt = json.loads((folder / "generation.json").read_text())
    generator = pipeline("text-generation", model=str(folder))
    messages = [
        {"role": "system", "content": prompt["system_prompt"]},
        {"role": "user", "content": "goal team coach league match win"},
    ]
    answer = generator(messages, max_new_tokens=8, do_sample=False)
    assert answer[0]["generated_text"][-1]["content"].strip() == HEADLINES["sport"]


def test_predict_writes_a_headline(generated_run: RunDir) -> None:
    result = domaintune(
        "predict",
        str(generated_run.root),
        "--text",
        "album song singer concert band tour",
        "--format",
        "jsonl",
        cwd=generated_run.root,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["generated"] == HEADLINES["music"]


def test_serve_and_export_refuse_a_generation_model_in_one_line(generated_run: RunDir) -> None:
    from domaintune.errors import UserError
    from domaintune.predict import Predictor

    with pytest.raises(UserError, match="text-generation model"):
        Predictor(generated_run.model)


def test_predict_writes_a_headline_for_each_row_of_a_file(
    generated_run: RunDir, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("generate-file")
    inputs = pd.DataFrame(
        {"id": [1, 2], "article": ["bank shares market profit", "goal team coach league"]}
    )
    inputs.to_csv(folder / "in.csv", index=False)
    result = domaintune(
        "predict",
        str(generated_run.model),
        "--file",
        "in.csv",
        "--text-column",
        "article",
        "--output",
        "out.csv",
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = pd.read_csv(folder / "out.csv")
    assert written["generated"].tolist() == [HEADLINES["money"], HEADLINES["sport"]]
    assert written["id"].tolist() == [1, 2]
