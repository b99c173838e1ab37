"""multi_label end to end through the real CLI: run, then predict and the report from its files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.predict import Predictor
from domaintune.rundir import RunDir
from domaintune.runfiles import MultiLabelMetrics
from tests.helpers import domaintune, fast_settings, write_tagged_tickets

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory: pytest.TempPathFactory, tiny_ticket_model: Path) -> RunDir:
    folder = tmp_path_factory.mktemp("multi")
    data = write_tagged_tickets(folder, count=400)
    result = domaintune(
        "run",
        "--data",
        str(data),
        "--objective",
        "multi_label",
        *fast_settings(tiny_ticket_model),
        "--out",
        "runs/tags",
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test micro-F1" in result.stdout
    return RunDir(folder / "runs/tags")


def test_run_writes_set_metrics_and_a_report_with_multi_label_sections(tagged_run: RunDir) -> None:
    metrics = MultiLabelMetrics.read(tagged_run.metrics)
    assert metrics.micro_f1 > metrics.baselines["majority"].micro_f1
    report = tagged_run.report_md.read_text()
    for section in ("micro-F1", "Hamming loss", "Per label", "Labels together", "thresholds.json"):
        assert section in report
    assert "onfusion" not in report
    html = tagged_run.report_html.read_text()
    assert "data:image/png;base64," in html


def test_predict_gives_a_set_of_labels_and_a_probability_per_label(tagged_run: RunDir) -> None:
    predictor = Predictor(tagged_run.root)
    assert predictor.multi_label
    texts = ["the invoice price with password login", "please add dark export option"]
    decided = predictor.decide(texts)
    assert list(decided.columns) == ["labels", "p_billing", "p_bug", "p_feature", "p_login"]
    assert "billing" in decided["labels"][0]
    first = decided.filter(like="p_").iloc[0].sort_values(ascending=False)
    assert list(first.index[:2]) == ["p_billing", "p_login"]  # both of its tags rank first
    assert "feature" in decided["labels"][1] and "billing" not in decided["labels"][1]
    probabilities = decided.filter(like="p_").to_numpy()
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert probabilities[0].sum() > 1.2  # sigmoids: two labels can both be likely


def test_predict_file_writes_lists_or_joined_labels(tagged_run: RunDir, tmp_path: Path) -> None:
    source = tmp_path / "new.csv"
    pd.DataFrame(
        {"id": [1, 2], "text": ["password reset locked account", "refund my card billed twice"]}
    ).to_csv(source, index=False)
    work = tagged_run.root.parent.parent
    for output in ("out.jsonl", "out.csv"):
        result = domaintune(
            "predict", str(tagged_run.root), "--file", str(source), "--output", str(tmp_path / output),
            cwd=work,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert "login" in rows[0]["labels"] and "billing" in rows[1]["labels"]
    assert {"id", "text", "labels", "p_billing", "p_login"} <= set(rows[0])
    assert rows[0]["p_login"] > rows[0]["p_billing"] and rows[1]["p_billing"] > rows[1]["p_login"]
    table = pd.read_csv(tmp_path / "out.csv")
    assert table["labels"].tolist() == [",".join(row["labels"]) for row in rows]


def test_commands_not_ready_for_multi_label_refuse_in_one_line(tagged_run: RunDir) -> None:
    work = tagged_run.root.parent.parent
    for args in (
        ("export", str(tagged_run.root)),
        ("serve", str(tagged_run.root)),
        ("predict", str(tagged_run.root), "--file", "x.csv", "--engine", "ray"),
        ("compare", str(tagged_run.root), str(tagged_run.root)),
    ):
        result = domaintune(*args, cwd=work)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "multi_label" in result.stderr


def test_a_run_on_two_text_fields_scores_and_predicts_label_sets_from_both(
    tmp_path: Path, tiny_ticket_model: Path
) -> None:
    """multi_label with data.text_columns through the CLI: prepare keeps the fields beside their
    label lists, evaluate reads the fields (not the joined `text`, which such a model refuses),
    and predict --file labels the fields' columns."""
    from tests.helpers import make_tagged_tickets

    tickets = make_tagged_tickets(400)
    words = tickets.pop("text").str.split()
    tickets["subject"], tickets["body"] = words.str[:2].str.join(" "), words.str[2:].str.join(" ")
    data = tmp_path / "tagged.jsonl"
    tickets.to_json(data, orient="records", lines=True)
    result = domaintune(
        "run", "--data", str(data), "--text-column", "subject", "--text-column", "body",
        "--objective", "multi_label", *fast_settings(tiny_ticket_model), "--out", "runs/tags",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run = RunDir(tmp_path / "runs/tags")
    train = pd.read_parquet(run.split("train"))
    assert {"field:subject", "field:body"} <= set(train.columns)
    assert train["label"].map(len).max() == 2  # label sets, not one label a row
    assert (run.model / "fields.json").is_file() and (run.model / "thresholds.json").is_file()
    metrics = MultiLabelMetrics.read(run.metrics)
    assert metrics.micro_f1 > metrics.baselines["majority"].micro_f1
    source = tmp_path / "new.csv"
    pd.DataFrame(
        {"subject": ["password reset", "refund card"], "body": ["locked account", "billed twice"]}
    ).to_csv(source, index=False)
    output = tmp_path / "out.jsonl"
    result = domaintune(
        "predict", str(run.root), "--file", str(source), "--output", str(output), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["subject"] for row in rows] == ["password reset", "refund card"]
    assert "login" in rows[0]["labels"] and "billing" in rows[1]["labels"]
