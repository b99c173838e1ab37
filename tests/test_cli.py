"""End to end: the real CLI, in a subprocess, on a few hundred rows with the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_run, domaintune, write_tickets

from domaintune.rundir import RunDir


def test_run_writes_every_output_of_the_design(finished_run: RunDir) -> None:
    run = finished_run
    for path in (
        run.config,
        run.split("train"),
        run.split("validation"),
        run.split("test"),
        run.card,
        run.model / "config.json",
        run.model / "model.safetensors",
        run.train_log,
        run.metrics,
        run.predictions,
        run.report_md,
        run.report_html,
        run.calibration,
        run.model_card,
    ):
        assert path.is_file(), path
    assert not run.checkpoints.exists()
    assert not list(run.root.rglob(".*.tmp-*")), "a temporary file was left behind"

    card = json.loads(run.card.read_text())
    assert card["rows_read"] == 302
    removed = {step["name"]: step["removed"] for step in card["steps"]}
    assert removed["too_short"] == 1 and removed["exact_duplicates"] == 2

    metrics = json.loads(run.metrics.read_text())
    test = pd.read_parquet(run.split("test"))
    predictions = pd.read_parquet(run.predictions)
    assert predictions["text"].tolist() == test["text"].tolist()  # the test split's order
    assert list(predictions.columns) == [
        "text",
        "label",
        "predicted",
        "p_negative",
        "p_neutral",
        "p_positive",
    ]
    accuracy = (predictions["label"] == predictions["predicted"]).mean()
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert set(metrics["baselines"]) == {"majority", "tfidf_logreg", "linear_probe"}
    assert set(metrics["significance"]) == set(metrics["baselines"])
    assert metrics["baselines"]["majority"]["accuracy"] < 0.5  # three balanced classes
    assert metrics["macro_f1"] > 0.7  # the tiny model learns the planted signal words
    assert metrics["significance"]["majority"]["verdict"] == "better"
    calibration = metrics["calibration"]
    assert calibration["temperature"] == json.loads(run.calibration.read_text())["temperature"]
    assert {"ece_before", "ece_after"} <= set(calibration)
    # the saved probabilities are the calibrated ones, and they still sum to one
    assert predictions.filter(like="p_").sum(axis=1).round(6).eq(1).all()
    assert metrics["decision"]["class_rule"]["label"] == "negative"
    assert sum(bucket["rows"] for bucket in metrics["by_length"]) == len(test)

    report = run.report_md.read_text()
    for section in (
        "Dataset insights",
        "Training process",
        "Evaluation results",
        "Application and impact",
        "Next iteration",
    ):
        assert section in report
    assert f"{metrics['macro_f1']:.3f}" in report
    html = run.report_html.read_text()
    assert html.count("data:image/png;base64,") == len(list(run.plots.glob("*.png"))) == 9
    assert 'src="plots/' not in html


def test_saved_model_works_with_transformers_pipeline(finished_run: RunDir) -> None:
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(finished_run.model))
    result = classifier("thanks great flight")[0]
    assert result["label"] in {"negative", "neutral", "positive"}


def test_predict_reads_text_file_and_stdin(finished_run: RunDir, tmp_path: Path) -> None:
    texts = tmp_path / "new.csv"
    pd.DataFrame({"message": ["rude staff lost bag", "love this crew"]}).to_csv(texts, index=False)
    out = tmp_path / "labels.csv"
    result = domaintune(
        "predict",
        str(finished_run.root),
        "--file",
        str(texts),
        "--text-column",
        "message",
        "--format",
        "csv",
        "--output",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert table["text"].tolist() == ["rude staff lost bag", "love this crew"]
    probabilities = table[["p_negative", "p_neutral", "p_positive"]].sum(axis=1)
    assert probabilities.round(4).eq(1).all()

    result = domaintune("predict", str(finished_run.model), cwd=tmp_path, stdin="one\n\ntwo\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["one", "two"]


def test_stages_run_alone_from_the_run_directory(finished_run: RunDir, tmp_path: Path) -> None:
    run = copy_run(finished_run, tmp_path)
    before = json.loads(run.metrics.read_text())
    run.report_html.unlink()
    result = domaintune("report", "--out", str(run.root), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert run.report_html.is_file()
    result = domaintune("evaluate", "--out", str(run.root), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = json.loads(run.metrics.read_text())
    assert after["macro_f1"] == before["macro_f1"]
    # evaluate refits from raw logits, not from logits already scaled by the earlier temperature
    for key in ("temperature", "ece_before", "ece_after"):
        assert after["calibration"][key] == pytest.approx(before["calibration"][key])
    assert not run.report_html.exists(), "evaluate must clear the stale report"


def test_compare_lists_runs_with_intervals_and_refuses_a_run_without_metrics(
    finished_run: RunDir, tmp_path: Path
) -> None:
    metrics = json.loads(finished_run.metrics.read_text())
    root, other = str(finished_run.root), str(copy_run(finished_run, tmp_path).root)
    result = domaintune("compare", root, other, "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 2 * (1 + len(metrics["baselines"]))
    assert [row["run"] for row in rows[:: len(rows) // 2]] == [root, other]
    assert rows[0]["macro_f1"] == metrics["macro_f1"]
    assert rows[0]["macro_f1_interval"] == metrics["intervals"]["macro_f1"]
    verdicts = {row["model"]: row["verdict"] for row in rows[1 : len(rows) // 2]}
    assert verdicts == {
        f"baseline: {name}": test["verdict"] for name, test in metrics["significance"].items()
    }
    result = domaintune("compare", root, "--format", "markdown", cwd=tmp_path)
    low, high = metrics["intervals"]["macro_f1"]
    assert f"{metrics['macro_f1']:.3f} [{low:.3f}, {high:.3f}]" in result.stdout
    result = domaintune("compare", root, str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and len(result.stderr.splitlines()) == 1
    assert "metrics.json is missing" in result.stderr


BAD_INPUTS = {
    "missing file": (["--data", "nowhere.csv"], "not found"),
    "not a CSV": (["--data", "{binary}"], "not a valid CSV"),
    "missing text column": (["--data", "{csv}", "--text-column", "body"], "no column 'body'"),
    "missing label column": (["--data", "{csv}", "--label-column", "y"], "no column 'y'"),
    "single class": (["--data", "{one_class}"], "a classifier needs at least two classes"),
    "too few rows of a class": (["--data", "{tiny_class}"], "class 'rare' has only 2 row(s)"),
    "empty file": (["--data", "{empty}"], "is empty"),
    "unknown model": (
        ["--data", "{csv}", "--model", "nobody/no-such-model"],
        "could not be loaded",
    ),
    "unknown hub data set": (["--data", "hub:nobody/no-such-data"], "could not be loaded"),
    "unknown config key": (["--data", "{csv}", "--set", "train.epoch=2"], "train.epoch"),
    "wrong config type": (["--data", "{csv}", "--set", "train.epochs=many"], "train.epochs"),
    "unknown option": (["--data", "{csv}", "--config", "x.yaml"], "No such option: --config"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_no_run(
    case: str, tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    files = {
        "csv": tickets_csv,
        "binary": tmp_path / "binary.csv",
        "one_class": tmp_path / "one_class.csv",
        "tiny_class": tmp_path / "tiny_class.csv",
        "empty": tmp_path / "empty.csv",
    }
    files["binary"].write_bytes(b'"unclosed,quote\n' + b"\x00" * 10)
    pd.DataFrame({"text": [f"text {i}" for i in range(30)], "label": "a"}).to_csv(
        files["one_class"], index=False
    )
    pd.DataFrame(
        {"text": [f"text {i}" for i in range(32)], "label": ["common"] * 30 + ["rare"] * 2}
    ).to_csv(files["tiny_class"], index=False)
    files["empty"].write_text("")
    args, expected = BAD_INPUTS[case]
    args = [arg.format(**files) for arg in args]
    if "--model" not in args:
        args += ["--model", str(tiny_model)]
    result = domaintune("run", *args, "--out", "runs/bad", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    assert expected in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs/bad/data").exists()
    assert not (tmp_path / "runs/bad/config.yaml").exists()


def test_config_show_prints_every_default_and_override(tmp_path: Path) -> None:
    result = domaintune("config", "show", "drug-reviews", "--set", "train.epochs=5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import yaml

    shown = yaml.safe_load(result.stdout)
    assert shown["task"]["name"] == "drug-reviews"
    assert shown["data"]["text_column"] == "review"
    assert shown["train"]["epochs"] == 5
    assert set(shown) == {"task", "data", "prepare", "model", "train", "evaluate", "report", "tune"}


def test_inspect_prints_checks_and_a_verdict_and_writes_nothing(tmp_path: Path) -> None:
    data = write_tickets(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    result = domaintune(
        "inspect", str(data), "--text-column", "text", "--label-column", "label", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "exact duplicates" in result.stdout and "suspected label errors" in result.stdout
    assert "Verdict" in result.stdout
    assert sorted(tmp_path.rglob("*")) == before
    missing = domaintune("inspect", str(tmp_path / "nope.csv"), cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("error:") == 1
