"""End to end: the real CLI, in a subprocess, on a few hundred rows with the tiny model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from domaintune.rundir import MARKER, RunDir
from tests.helpers import (
    copy_run,
    domaintune,
    fast_settings,
    make_rows,
    snapshot,
    user_files,
    write_tickets,
)


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
    """Catches a saved folder that plain `pipeline()` loads with other label names or other
    weights: its label and raw score must be the saved model's own argmax and softmax."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    text = "thanks great flight"
    classifier = pipeline("text-classification", model=str(finished_run.model))
    result = classifier(text)[0]
    tokenizer = AutoTokenizer.from_pretrained(finished_run.model)
    model = AutoModelForSequenceClassification.from_pretrained(finished_run.model).eval()
    with torch.inference_mode():
        probabilities = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0]
    best = int(probabilities.argmax())
    assert result["label"] == model.config.id2label[best]
    assert result["score"] == pytest.approx(float(probabilities[best]), abs=1e-5)


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
    said = " ".join((result.stdout + result.stderr).split())  # rich wraps long lines
    for name, baseline in after["baselines"].items():
        verdict = after["significance"][name]["verdict"]
        assert (
            f"baseline {name}: macro-F1 {baseline['macro_f1']:.3f} (fine-tuned model: {verdict})"
            in said
        )
    # evaluate refits from raw logits, not from logits already scaled by the earlier temperature
    for key in ("temperature", "ece_before", "ece_after"):
        assert after["calibration"][key] == pytest.approx(before["calibration"][key])
    assert not run.report_html.exists(), "evaluate must clear the stale report"


BAD_INPUTS = {
    "missing file": (["--data", "nowhere.csv"], "not found"),
    "not a CSV": (["--data", "{binary}"], "not a valid CSV"),
    "missing text column": (["--data", "{csv}", "--text-column", "body"], "no column 'body'"),
    "missing label column": (["--data", "{csv}", "--label-column", "y"], "no column 'y'"),
    "single class": (["--data", "{one_class}"], "a classifier needs at least two classes"),
    "too few rows of a class": (["--data", "{tiny_class}"], "class 'rare' has only 1 row"),
    "empty file": (["--data", "{empty}"], "is empty"),
    "unknown split value": (
        ["--data", "{parts}", "--split-column", "part"],
        "parts.csv, row 3, column 'part' holds 'holdout', not a split",
    ),
    "time that does not parse": (
        ["--data", "{parts}", "--time-column", "sent"],
        "parts.csv, row 2, column 'sent' holds 'soon', not a date",
    ),
    "missing unlabelled file": (
        ["--data", "{csv}", "--unlabelled", "nowhere.csv"],
        "data.unlabelled: nowhere.csv not found",
    ),
    "unlabelled file without the text column": (
        ["--data", "{csv}", "--unlabelled", "{bodies}"],
        "bodies.csv has no column 'text' (its columns: body)",
    ),
    "unknown model": (
        ["--data", "{csv}", "--model", "nobody/no-such-model"],
        "could not be loaded",
    ),
    "unknown hub data set": (["--data", "hub:nobody/no-such-data"], "could not be loaded"),
    "unknown config key": (["--data", "{csv}", "--set", "train.epoch=2"], "train.epoch"),
    "wrong config type": (["--data", "{csv}", "--set", "train.epochs=many"], "train.epochs"),
    "unknown option": (["--data", "{csv}", "--config", "x.yaml"], "No such option: --config"),
}


@pytest.mark.slow
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
        "parts": tmp_path / "parts.csv",
        "bodies": tmp_path / "bodies.csv",
    }
    pd.DataFrame({"body": ["a text without a label"]}).to_csv(files["bodies"], index=False)
    make_rows(30).assign(
        part=["train", "test", "holdout"] * 10, sent=["2024-03-01", "soon", "2024-03-02"] * 10
    ).to_csv(files["parts"], index=False)
    files["binary"].write_bytes(b'"unclosed,quote\n' + b"\x00" * 10)
    pd.DataFrame({"text": [f"text {i}" for i in range(30)], "label": "a"}).to_csv(
        files["one_class"], index=False
    )
    pd.DataFrame(
        {"text": [f"text {i}" for i in range(31)], "label": ["common"] * 30 + ["rare"]}
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
    assert set(shown) == {
        "task",
        "data",
        "prepare",
        "model",
        "train",
        "evaluate",
        "report",
        "tune",
        "generation",
        "serve",
        "export",
    }


@pytest.mark.slow
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


def quick_prepare(data: Path | str, tiny_model: Path, *more: str) -> list[str]:
    """`domaintune prepare` on a tickets CSV with the tiny model: prepare alone is fast."""
    return [
        "prepare",
        "--data",
        str(data),
        "--text-column",
        "text",
        "--label-column",
        "label",
        "--model",
        str(tiny_model),
        *more,
    ]


def only_error_line(result: subprocess.CompletedProcess) -> str:
    """The single line on stderr, which must be an `error:` line after exit status 2 (progress,
    stage headers included, goes to stdout)."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    return lines[0]


def home_like(tmp_path: Path) -> tuple[Path, str]:
    """A user's home folder (what the shell makes of `--out ~`), with the data inside it."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".bashrc").write_text("export PATH=$HOME/bin:$PATH\n")
    (home / ".config" / "app.toml").write_text("theme = 'dark'\n")
    return home, str(home)


@pytest.mark.parametrize("out", [".", "data", "~"])
def test_out_holding_the_users_files_is_refused_and_left_byte_for_byte(
    out: str, tmp_path: Path, tiny_model: Path
) -> None:
    """Catches issue 10 item 2: `--out .` (or data, or ~) deleting data/t.csv and notes."""
    work, out_arg = (tmp_path, out) if out != "~" else home_like(tmp_path)
    before = user_files(work)
    result = domaintune(*quick_prepare("data/t.csv", tiny_model, "--out", out_arg), cwd=work)
    line = only_error_line(result)
    assert f"error: {out_arg} holds files domaintune did not write" in line
    assert "give --out a new or empty folder" in line
    assert snapshot(work) == before


@pytest.mark.parametrize("name", ["../..", "/x", "a/b", ""])
def test_a_task_name_outside_runs_is_refused_and_nothing_is_written(
    name: str, tmp_path: Path, tiny_model: Path
) -> None:
    """Catches runs/<task.name> leaving runs/ (`../..` is the user's folder, `/x` the root)."""
    work = tmp_path / "project" / "work"
    work.mkdir(parents=True)
    user_files(work)
    before = snapshot(tmp_path)
    result = domaintune(
        *quick_prepare("data/t.csv", tiny_model, "--set", f"task.name={name}"), cwd=work
    )
    line = only_error_line(result)
    assert "task.name" in line and "cannot name a run folder under runs/" in line
    assert snapshot(tmp_path) == before
    assert not Path("/x").exists()


@pytest.mark.slow
def test_a_marked_run_folder_is_adopted_run_again_and_its_stale_outputs_cleared(
    tmp_path: Path, tiny_model: Path
) -> None:
    """Catches a marker not written, an empty folder refused, a marked run refused on re-runs,
    or later stages' outputs left stale when prepare runs again."""
    data = write_tickets(tmp_path)
    run = RunDir(tmp_path / "runs" / "tickets")
    run.root.mkdir(parents=True)  # empty: domaintune may adopt it
    args = quick_prepare(data, tiny_model, "--out", str(run.root))
    assert domaintune(*args, cwd=tmp_path).returncode == 0
    identity = json.loads((run.root / MARKER).read_text())
    assert identity["made_by"] == "domaintune" and identity["task"] == "tickets"
    marker = (run.root / MARKER).read_bytes()
    stale = [run.train_log, run.metrics, run.model / "config.json", run.plots / "confusion.png"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("from an earlier run")
    result = domaintune(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [path for path in stale if path.exists()]
    assert not run.model.exists() and not run.plots.exists()
    assert run.card.is_file() and run.split("train").is_file()
    assert (run.root / MARKER).read_bytes() == marker


@pytest.mark.slow
def test_quick_start_values_are_taken_as_plain_text(tmp_path: Path, tiny_model: Path) -> None:
    """Catches --text-column read as YAML: `[usd]` became a list, refused as not a string."""
    frame = pd.read_csv(write_tickets(tmp_path)).rename(columns={"text": "[usd]"})
    frame.to_csv(tmp_path / "prices.csv", index=False)
    args = quick_prepare("prices.csv", tiny_model, "--out", "runs/prices")
    args[args.index("text")] = "[usd]"
    result = domaintune(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = RunDir(tmp_path / "runs" / "prices")
    assert "data:\n  source: prices.csv\n  text_column: '[usd]'\n" in run.config.read_text()
    assert len(pd.read_parquet(run.split("train"))) > 0


@pytest.mark.parametrize("column", ["[usd]", "[/]"])
def test_an_error_holding_brackets_is_printed_as_written(
    column: str, tmp_path: Path, tiny_model: Path, tickets_csv: Path
) -> None:
    """Catches Rich markup in error lines: `[usd]` vanished as a style, `[/]` raised MarkupError."""
    args = quick_prepare(tickets_csv, tiny_model, "--out", "runs/x")
    args[args.index("text")] = column
    line = only_error_line(domaintune(*args, cwd=tmp_path))
    assert f"has no column '{column}' (its columns: text, label)" in line
    assert not (tmp_path / "runs").exists()


def test_a_config_file_that_is_not_utf8_is_one_error_line(tmp_path: Path) -> None:
    """Catches a UnicodeDecodeError traceback for a YAML config saved in Latin-1."""
    (tmp_path / "latin.yaml").write_bytes("task:\n  description: caf\u00e9\n".encode("latin-1"))
    result = domaintune("prepare", "latin.yaml", "--out", "runs/x", cwd=tmp_path)
    line = only_error_line(result)
    assert line == "error: latin.yaml: not UTF-8 text (byte 24): save the config as UTF-8"
    assert not (tmp_path / "runs").exists()


CORRUPT_RUN_FILES = {
    "card cut short": ("train", "data/card.json", "prepare"),
    "train log garbage": ("evaluate", "train_log.json", "train"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CORRUPT_RUN_FILES, ids=list(CORRUPT_RUN_FILES))
def test_a_corrupt_json_file_in_the_run_folder_says_what_to_run_again(
    case: str, tmp_path: Path, tiny_model: Path, tickets_csv: Path
) -> None:
    """Catches a JSONDecodeError traceback when a run file was cut short or overwritten."""
    command, relative, writer = CORRUPT_RUN_FILES[case]
    run = RunDir(tmp_path / "runs" / "t")
    prepared = domaintune(*quick_prepare(tickets_csv, tiny_model, "--out", "runs/t"), cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    run.model.mkdir(exist_ok=True)  # evaluate reads the log before it loads the model
    corrupt = run.root / relative
    if corrupt.exists():
        corrupt.write_bytes(corrupt.read_bytes()[:40])
    else:
        corrupt.write_bytes(b"\x00\x17 not a log")
    damaged = snapshot(run.root)
    line = only_error_line(domaintune(command, "--out", "runs/t", cwd=tmp_path))
    assert line.startswith(f"error: {Path('runs/t') / relative} is corrupt (not JSON: ")
    assert line.endswith(f"re-run `domaintune {writer} --out runs/t`")
    assert snapshot(run.root) == damaged, "a failed stage must not change the run"


@pytest.mark.slow
@pytest.mark.parametrize("pair", [False, True])
def test_a_run_on_two_text_fields_then_predict_on_a_file(
    tmp_path: Path, ticket_model: Path, pair: bool
) -> None:
    """Support tickets whose queue shows in the subject for half and in the body for the other
    half: `run` with two --text-column options learns from both, the report names the fields,
    and `predict --file` reads the same columns and gives the labels the Predictor gives."""
    from domaintune.predict import Predictor
    from tests.helpers import fast_settings
    from tests.support_tickets import ticket_rows, write_support_tickets

    data = write_support_tickets(tmp_path)
    args = ["run", "--data", str(data), "--text-column", "subject", "--text-column", "body"]
    args += ["--label-column", "queue", *(["--text-pair"] if pair else [])]
    run = domaintune(*args, *fast_settings(ticket_model), "--out", "runs/t", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]

    root = RunDir(tmp_path / "runs/t")
    fields = json.loads((root.model / "fields.json").read_text())
    assert fields["names"] == ["subject", "body"]
    assert fields["mode"] == ("pair" if pair else "joined")
    metrics = json.loads(root.metrics.read_text())
    assert metrics["macro_f1"] >= 0.9  # neither field alone tells half the tickets' queue
    report = root.report_md.read_text()
    assert "text fields `subject`, `body`" in report
    assert ("compared as a sentence pair" in report) == pair

    new = ticket_rows(30, seed=7)
    new.insert(0, "ticket", new.pop("id"))
    new.drop(columns="queue").to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "labels.csv"
    result = domaintune(
        "predict", str(root.root), "--file", "new.csv", "--output", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    labelled = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(labelled.columns[:3]) == ["subject", "body", "ticket"]
    predictor = Predictor(root.root)
    records = new[["subject", "body"]].to_dict("records")
    assert labelled["label"].tolist() == predictor.predict(records)
    assert (labelled["label"] == new["queue"]).mean() >= 0.9

    missing = domaintune("predict", str(root.root), "--text", "my password expired", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "not a JSON object of the fields this model reads (subject, body)" in missing.stderr


@pytest.mark.slow
def test_run_with_a_split_column_tests_on_the_users_test_rows(
    tmp_path: Path, tiny_model: Path
) -> None:
    """Catches a fixed test set re-split, a test row moved into train by `leakage: move`, or a
    report silent on where the split came from."""
    frame = make_rows(240, seed=8)
    frame["part"] = ["test" if i % 4 == 0 else "train" for i in range(240)]
    frame.loc[4, "text"] = frame.loc[4, "text"].replace(" ", " &amp; ", 1)  # cleaned in test too
    frame.loc[1, ["text", "label"]] = [frame.loc[0, "text"] + " !!", frame.loc[0, "label"]]
    frame.to_csv(tmp_path / "tickets.csv", index=False)
    expected = frame[frame["part"] == "test"].assign(
        text=lambda f: f["text"].str.replace("&amp;", "&")
    )
    result = domaintune(
        "run",
        "--data",
        str(tmp_path / "tickets.csv"),
        "--split-column",
        "part",
        *fast_settings(tiny_model),
        "--out",
        "runs/fixed",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = RunDir(tmp_path / "runs/fixed")
    test = pd.read_parquet(run.split("test"))
    assert test["text"].tolist() == expected["text"].tolist()
    assert test["label"].tolist() == expected["label"].tolist()
    assert sorted(pd.read_parquet(run.predictions)["text"]) == sorted(expected["text"])
    assert frame.loc[1, "text"] not in set(pd.read_parquet(run.split("train"))["text"])
    report = run.report_md.read_text()
    assert "The splits come from the split column `part`" in report
    assert (
        "1 test row near-duplicated a training row: kept, and the training copies dropped" in report
    )
