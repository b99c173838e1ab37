from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from domaintune.config import load_config
from domaintune.data.card import StepName
from domaintune.errors import UserError
from domaintune.report.build import (
    BASELINE_NAMES,
    findings,
    largest_confusion,
    markdown_to_html,
    next_steps,
    run_report,
    split_account,
)
from domaintune.rundir import RunDir
from domaintune.runfiles import (
    CardStep,
    DataCard,
    ExportParity,
    LabelingCurve,
    Metrics,
    TrainLog,
    UnlabelledSummary,
)
from tests import runfile_examples as examples
from tests.helpers import copy_run

LABELS = ["negative", "neutral", "positive"]
MATRIX = [[90, 8, 2], [20, 25, 5], [3, 4, 43]]


def metrics() -> Metrics:
    per_class = {
        "negative": {"precision": 0.8, "recall": 0.9, "f1-score": 0.85, "support": 100.0},
        "neutral": {"precision": 0.68, "recall": 0.5, "f1-score": 0.58, "support": 50.0},
        "positive": {"precision": 0.86, "recall": 0.86, "f1-score": 0.86, "support": 50.0},
    }
    calibration = examples.metrics().calibration.model_dump() | {"ece_after": 0.08}
    return examples.metrics(
        accuracy=0.79,
        macro_f1=0.763,
        test_rows=200,
        per_class=per_class,
        confusion_matrix=MATRIX,
        baselines={
            "majority": examples.baseline(0.22, 0.2, 0.24),
            "tfidf_logreg": examples.baseline(0.74, 0.68, 0.80),
        },
        significance={
            "majority": examples.comparison(0.543, "better"),
            "tfidf_logreg": examples.comparison(0.023, "not significant"),
        },
        by_length=[
            {"min_words": 1, "max_words": 9, "rows": 100, **dict.fromkeys(SCORES, 0.8)},
            {"min_words": 10, "max_words": 60, "rows": 100, **dict.fromkeys(SCORES, 0.6)},
        ],
        calibration=calibration,
    )


SCORES = ("accuracy", "macro_f1", "weighted_f1")
CARD = examples.card(
    classes={
        "raw": {"negative": 500, "neutral": 250, "positive": 250},
        "clean": {"negative": 500, "neutral": 250, "positive": 250},
    },
    splits={"train": {"negative": 400, "neutral": 200, "positive": 200}},
    steps=[examples.step(StepName.CONFLICTS, changed=6)],
)
LOG = {
    "truncated_rows": 40,
    "train_rows": 800,
    "stopped_early": False,
    "epochs_run": 3.0,
    "epochs_planned": 3.0,
    "best_epoch": 3.0,
    "max_length": 64,
    "max_length_set_by": "percentile",
    "max_length_percentile": 99.0,
}


def train_log(**changes: Any) -> TrainLog:
    return examples.train_log(**(LOG | changes))


def test_largest_confusion_is_the_biggest_off_diagonal_cell() -> None:
    assert largest_confusion(MATRIX, LABELS) == {
        "true": "neutral",
        "predicted": "negative",
        "count": 20,
        "share": 0.4,
    }
    assert largest_confusion([[5, 0], [0, 5]], ["a", "b"]) is None


def test_findings_judge_from_the_figures() -> None:
    found = findings(metrics(), CARD, train_log())
    assert (found["weakest"], found["strongest"]) == ("neutral", "positive")
    assert found["errors_per_1000"] == 210
    verdicts = {c["name"]: c["verdict"] for c in found["comparisons"]}
    assert verdicts == {"majority": "better", "tfidf_logreg": "not significant"}
    assert found["beats_all"] is False
    assert found["weakest_bucket"].min_words == 10


def test_next_steps_follow_from_this_runs_weaknesses() -> None:
    found = findings(metrics(), CARD, train_log())
    steps = " ".join(next_steps(metrics(), CARD, train_log(), found, audited=4))
    assert "'neutral', the weakest class" in steps
    assert "'neutral' that the model calls 'negative' (20 test rows" in steps
    assert "more epochs" in steps  # still improving at the last epoch
    assert "5.0% of training texts were cut" in steps
    assert "not significantly better than the TF-IDF + logistic regression baseline" in steps
    assert "majority class baseline" not in steps
    assert "6 rows shared their text" in steps
    assert "4 of the model's test mistakes are on rows the label audit also doubts" in steps
    assert "Texts of 10-60 words score lowest" in steps
    assert "still off by 0.080 (ECE)" in steps
    quiet = next_steps(metrics(), CARD, train_log(), found, audited=None)
    assert not any("label audit" in step for step in quiet)


@pytest.mark.parametrize(
    ("run", "said", "not_said"),
    [
        ({"best_epoch": 3.0}, "still at its best in the last epoch (3 of 3)", "peaked"),
        (
            {"best_epoch": 1.0},
            "peaked at epoch 1 and did not improve in the 2 epochs after it",
            "still at its best",
        ),
        (
            {"best_epoch": 2.0, "epochs_run": 5.0, "epochs_planned": 10.0, "stopped_early": True},
            "peaked at epoch 2, and training stopped early at epoch 5 of 10",
            "still at its best",
        ),
    ],
)
def test_epoch_advice_reads_the_best_epoch(run: dict, said: str, not_said: str) -> None:
    """Catches "still at its best in the last epoch" written from stopped_early alone: a run that
    ran every epoch but peaked before the last must say where it peaked instead."""
    log = train_log(**run)
    steps = " ".join(next_steps(metrics(), CARD, log, findings(metrics(), CARD, log), None))
    assert said in steps
    assert not_said not in steps


@pytest.mark.parametrize(
    ("set_by", "said"),
    [
        ("percentile", "percentile 95 of the training texts' token lengths"),
        ("configured", "the configured `model.max_length`"),
        ("model", "the most the model accepts"),
        ("floor", "the least domaintune allows"),
    ],
)
def test_the_token_limit_is_named_by_what_set_it(set_by: str, said: str) -> None:
    """Catches the limit called a percentile when the model, the configuration or the floor set it,
    and a percentile read from anywhere but train_log.json."""
    log = train_log(max_length_set_by=set_by, max_length_percentile=95.0)
    found = findings(metrics(), CARD, log)
    assert found["token_limit"] == said
    cut = next(s for s in next_steps(metrics(), CARD, log, found, None) if "were cut" in s)
    # raising the percentile cannot help when the model's own limit set it
    assert ("max_length_percentile" in cut) == (set_by != "model")


@pytest.mark.parametrize(
    ("long_text", "said"),
    [
        ("truncate", ["never read their ends", "`model.long_text: chunks`", "`head_tail`"]),
        ("head_tail", ["by their start and end alone", "`model.long_text: chunks`"]),
        ("chunks", []),
    ],
)
def test_texts_past_the_models_limit_get_the_long_text_reading_named(
    long_text: str, said: list[str]
) -> None:
    """Catches a report that tells a user whose texts the model cut at its own limit (long
    documents) only to find another model, when `model.long_text` reads them whole; and one
    that calls texts read whole in windows cut."""
    log = train_log(max_length_set_by="model", long_text=long_text)
    found = findings(metrics(), CARD, log)
    steps = [s for s in next_steps(metrics(), CARD, log, found, None) if "training texts" in s]
    assert len(steps) == (1 if said else 0)
    for words in said:
        assert words in steps[0]


def number(text: str) -> float:
    return float(text.rstrip("%"))


def fmt(value: float) -> str:
    return f"{value:.3f}"


def fmt_interval(values: list[float]) -> str:
    return f"[{values[0]:.3f}, {values[1]:.3f}]"


def table_rows(report: str, header: str) -> list[list[str]]:
    """The cells of each row of the markdown table whose header row starts with `header`."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.parametrize(
    ("fused", "said"),
    [
        ({"Attention": 2, "BiasGelu": 2}, "int8, attention fused)"),
        ({"BiasGelu": 12, "LayerNormalization": 25}, "int8, attention not fused"),
    ],
    ids=["bert", "mpnet"],
)
def test_an_exported_model_gets_its_parity_in_the_report(
    finished_run: RunDir, tmp_path: Path, fused: dict[str, int], said: str
) -> None:
    """Catches an export the report does not mention, or figures other than parity.json's; and
    a section about an export that does not exist. ONNX Runtime fuses BERT's attention but not
    MPNet's: a report that assumed the fused operator failed on MPNet's export."""
    assert "Exported model" not in finished_run.report_md.read_text()
    run = copy_run(finished_run, tmp_path)
    ExportParity(
        format="onnx",
        file="model.onnx",
        quantize="int8",
        opset=17,
        inputs=["input_ids", "attention_mask", "token_type_ids"],
        fused_operators=fused,
        int8_operators={"MatMulIntegerToFloat": 4, "QAttention": 2},
        model_sha256="0" * 64,
        labels=LABELS,
        test_rows=61,
        agreement=0.9836,
        disagreements=1,
        macro_f1_torch=0.8123,
        macro_f1_onnx=0.8051,
        macro_f1_difference=-0.0072,
        max_probability_difference=0.0312,
        max_logit_difference=0.2,
        min_agreement=0.98,
        max_macro_f1_drop=0.01,
        passed=True,
        seconds=3.0,
        onnxruntime_version="1.32.0",
        torch_version="2.13.0",
    ).write(run.parity)
    run_report(load_config(str(run.config)), run)
    report = run.report_md.read_text()
    assert f"**Exported model.** `{run.onnx_model.as_posix()}` is the model as ONNX (int8" in report
    assert said in report
    rows = table_rows(report, "| model | test macro-F1 | same label as PyTorch fp32 |")
    assert rows == [
        ["PyTorch fp32", "0.812", "", ""],
        ["ONNX int8", "0.805", "98.36% (1 text differs)", "0.0312"],
    ]
    assert "Exported model" in run.report_html.read_text()


def test_a_labeling_curve_in_the_run_gets_its_section_and_plot(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """Catches a curve the report leaves out or misreads (means over seeds, the seeds that
    reached random's last figure with half the labels), and a section without a curve."""
    assert "Labels spent" not in finished_run.report_md.read_text()
    run = copy_run(finished_run, tmp_path)
    LabelingCurve(
        data="runs/x/data",
        learner="logistic regression on frozen builtin:minilm-l6 embeddings",
        budgets=[24, 48, 96],
        loop=[[0.5, 0.7, 0.8], [0.4, 0.7, 0.82]],
        random=[[0.4, 0.6, 0.69], [0.4, 0.5, 0.75]],
        reached=[48, 96],
        reached_on_means=48,
    ).write(run.labeling_curve)
    run_report(load_config(str(run.config)), run)
    report = run.report_md.read_text()
    rows = table_rows(report, "| labels | loop macro-F1 | random macro-F1 |")
    assert rows == [["24", "0.450", "0.400"], ["48", "0.700", "0.550"], ["96", "0.810", "0.720"]]
    assert "reaches random's macro-F1 at 96 labels with 48 labels" in report
    assert "with at most half as many labels in 1 of 2 seeds" in report
    assert (run.plots / "labeling_curve.png").stat().st_size > 0
    assert "Labels spent" in run.report_html.read_text()


def test_report_claims_match_metrics_json_exactly(finished_run: RunDir) -> None:
    """Every headline figure the report states is the one in metrics.json, at the shown precision."""
    report = finished_run.report_md.read_text()
    m = json.loads(finished_run.metrics.read_text())

    headline = re.search(
        r"reached macro-F1 (\S+) (\[\S+, \S+\]) and accuracy (\S+)%", report
    ).groups()
    assert headline == (
        fmt(m["macro_f1"]),
        fmt_interval(m["intervals"]["macro_f1"]),
        f"{100 * m['accuracy']:.1f}",
    )

    rows = table_rows(report, "| model | accuracy | macro-F1 |")
    assert rows[0][0].startswith("**fine-tuned")
    for cell, name in zip(rows[0][1:], ("accuracy", "macro_f1", "weighted_f1")):
        assert cell == f"**{fmt(m[name])}** {fmt_interval(m['intervals'][name])}"
    names = {f"baseline: {BASELINE_NAMES[name]}": name for name in m["baselines"]}
    assert [names[row[0]] for row in rows[1:]] == list(m["baselines"])
    for row in rows[1:]:
        baseline = m["baselines"][names[row[0]]]
        for cell, name in zip(row[1:], ("accuracy", "macro_f1", "weighted_f1")):
            assert cell == f"{fmt(baseline[name])} {fmt_interval(baseline['intervals'][name])}"

    rows = table_rows(report, "| against | macro-F1 gain |")
    assert len(rows) == len(m["significance"])
    for row in rows:
        name = next(n for n in m["baselines"] if BASELINE_NAMES[n] == row[0])
        test = m["significance"][name]
        assert row[1] == f"{test['macro_f1_difference']:+.3f}"
        assert row[2] == fmt_interval(test["paired_bootstrap"]["macro_f1_difference_interval"])
        assert (int(row[3]), int(row[4])) == (
            test["mcnemar"]["only_model"],
            test["mcnemar"]["only_baseline"],
        )
        assert row[7] == test["verdict"]
        plain = f"Against {row[0]}: fine-tuning made {'no ' if test['verdict'] == 'not significant' else 'a '}significant difference"
        assert plain in report

    rows = table_rows(report, "| class | precision |")
    for row, label in zip(rows, m["labels"], strict=True):
        assert row[0] == label
        assert row[3] == fmt(m["per_class"][label]["f1-score"])
        assert row[4] == fmt_interval(m["intervals"][f"f1[{label}]"])

    calibration = m["calibration"]
    ece = re.search(r"is (\S+) before and (\S+) after temperature scaling", report).groups()
    assert ece == (fmt(calibration["ece_before"]), fmt(calibration["ece_after"]))
    assert f"T = {calibration['temperature']:.3f}" in report

    worth = re.search(r"\*\*Was fine-tuning worth it\?\*\* (.*)", report).group(1)
    verdicts = {name: test["verdict"] for name, test in m["significance"].items()}
    if all(v == "better" for v in verdicts.values()):
        assert worth.startswith("Yes")
    else:
        assert worth.startswith("Not against every baseline")
        for name, verdict in verdicts.items():
            said = {"better": "significantly better", "worse": "significantly worse"}
            assert (
                f"{BASELINE_NAMES[name]}: {said.get(verdict, 'no significant difference')}" in worth
            )

    wrong = round(1000 * (1 - m["accuracy"]))
    assert f"route about {1000 - wrong} correctly and {wrong} wrongly" in report
    rule = m["decision"]["class_rule"]["test"]
    assert (
        f"recall {100 * rule['recall']:.1f}% and precision {100 * rule['precision']:.1f}%" in report
    )


def test_metrics_from_an_older_evaluate_ask_for_evaluate_again(
    finished_run: RunDir, tmp_path: Path
) -> None:
    run = copy_run(finished_run, tmp_path)
    metrics = json.loads(run.metrics.read_text())
    del metrics["schema_version"]
    run.metrics.write_text(json.dumps(metrics))
    with pytest.raises(UserError, match=r"older domaintune .*: re-run `domaintune evaluate"):
        run_report(load_config(str(run.config)), run)


def test_label_audit_mistakes_are_reported_and_its_absence_said(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """Catches a claim about audited mistakes when no audit ran: with `label_audit: off` prepare
    still writes an empty audit file, which must not read as "the audit flagged none"."""
    run = copy_run(finished_run, tmp_path)
    config = load_config(str(run.config))
    card = json.loads(run.card.read_text())
    card["label_audit"]["mode"] = "off"
    run.card.write_text(json.dumps(card))
    pd.read_parquet(run.label_audit).head(0).to_parquet(run.label_audit)  # what prepare writes
    run_report(config, run)
    report = run.report_md.read_text()
    assert "no label audit was run" in report
    assert "none of the model's test mistakes" not in report
    card["label_audit"]["mode"] = "flag"
    run.card.write_text(json.dumps(card))

    predictions = pd.read_parquet(run.predictions)
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    right = predictions[predictions["label"] == predictions["predicted"]]
    assert len(wrong) >= 2, "the shared run's label noise should give the model some mistakes"
    flagged = pd.concat([wrong.head(2), right.head(1)])
    audit = pd.DataFrame(
        {
            "split": "test",
            "text": flagged["text"],
            "label": flagged["label"],
            "suggested_label": flagged["predicted"],
            "label_quality": [0.02, 0.01, 0.03],
            "likely_error": True,
        }
    )
    audit.to_parquet(run.label_audit)
    run_report(config, run)
    report = run.report_md.read_text()
    assert "2 of the model's test mistakes are on rows the label audit flagged" in report
    rows = table_rows(report, "| text | given label | model says |")
    assert [row[-1] for row in rows] == ["0.010", "0.020"]  # most suspect first
    assert "2 of the model's test mistakes are on rows the label audit also doubts" in report


def test_scores_on_the_rows_the_audit_trusts_are_stated_beside_all_rows(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """Catches the trusted-rows sentence missing, naming the wrong figures, or showing when
    evaluate found no doubted test rows."""
    run = copy_run(finished_run, tmp_path)
    config = load_config(str(run.config))
    metrics = json.loads(run.metrics.read_text())
    metrics["trusted_labels"] = {
        "rows": 41,
        "doubted_rows": 7,
        "macro_f1": {"model": 0.9123, **{name: 0.4567 for name in metrics["baselines"]}},
    }
    run.metrics.write_text(json.dumps(metrics))
    run_report(config, run)
    sentence = line_starting(run.report_md.read_text(), "On the 41 test rows whose labels")
    assert "leaving out the 7 it counts as likely wrong" in sentence
    assert "the model's macro-F1 is 0.912 (" in sentence
    assert "TF-IDF + logistic regression 0.457" in sentence
    assert f"on all {metrics['test_rows']}: {metrics['macro_f1']:.3f} (" in sentence

    metrics["trusted_labels"] = None
    run.metrics.write_text(json.dumps(metrics))
    run_report(config, run)
    assert "whose labels the audit does not doubt" not in run.report_md.read_text()


def line_starting(report: str, start: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(start))


def test_the_shared_runs_report_states_its_own_train_log(finished_run: RunDir) -> None:
    """Catches training settings or the token limit's source stated from anything but
    train_log.json, on a run made by the real CLI."""
    report = finished_run.report_md.read_text()
    log = json.loads(finished_run.train_log.read_text())
    optimisation = line_starting(report, "- Optimisation:")
    assert f"learning rate {log['learning_rate']}," in optimisation
    assert f"weight decay {log['weight_decay']}," in optimisation
    assert f"warm-up {100 * log['warmup_ratio']:.1f}% of steps" in optimisation
    assert f"seed {log['seed']};" in optimisation
    limit = line_starting(report, "- Token limit:")
    assert limit.startswith(f"- Token limit: {log['max_length']} tokens, set by ")


def test_report_states_the_settings_train_used_not_the_config_given(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """Catches `report --set train.learning_rate=...` reporting settings never used, a token limit
    named from the config, and "still at its best in the last epoch" for a run that peaked before
    its last epoch without stopping early."""
    run = copy_run(finished_run, tmp_path)
    log = json.loads(run.train_log.read_text())
    used = {"learning_rate": 0.0123, "weight_decay": 0.0456, "warmup_ratio": 0.25, "seed": 1234}
    log.update(used, max_length_set_by="model", stopped_early=False, best_epoch=2.0)
    log.update(epochs_run=8.0, epochs_planned=8)
    run.train_log.write_text(json.dumps(log))
    given = ["learning_rate=0.987", "weight_decay=0.876", "warmup_ratio=0.765", "seed=98765"]
    config = load_config(
        str(run.config), [f"train.{value}" for value in given] + ["model.max_length=16"]
    )
    run_report(config, run)
    report = run.report_md.read_text()
    optimisation = line_starting(report, "- Optimisation:")
    assert "learning rate 0.0123, " in optimisation and "weight decay 0.0456, " in optimisation
    assert "warm-up 25.0% of steps" in optimisation and "seed 1234;" in optimisation
    for unused in ("0.987", "0.876", "76.5%", "98765"):
        assert unused not in optimisation
    limit = line_starting(report, "- Token limit:")
    assert f"{log['max_length']} tokens, set by the most the model accepts;" in limit
    assert "still at its best" not in report
    assert "peaked at epoch 2 and did not improve in the 6 epochs after it" in report


# --- report.html holds no script and no file from the data -------------------------------------

SCRIPT = "<script>alert(1)</script>"


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def sources(self) -> list[str | None]:
        return [attrs.get("src") for tag, attrs in self.found if tag == "img"]


def outside_png(folder: Path) -> Path:
    """A real PNG that is not one of the run's plots (its bytes differ from all of them)."""
    path = folder / "outside.png"
    plt.imsave(path, np.full((3, 3, 3), 0.5))
    return path


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def test_markdown_embeds_only_the_runs_plots_and_survives_a_missing_one(tmp_path: Path) -> None:
    """Catches an image outside plots/ (absolute, `..`, a link out of plots/) being inlined, a
    missing plot crashing the page, and raw HTML or `javascript:` links passing through."""
    plots = tmp_path / "run" / "plots"
    plots.mkdir(parents=True)
    outside = outside_png(tmp_path)
    plot = plots / "kept.png"
    plt.imsave(plot, np.zeros((2, 2, 3)))
    (plots / "link.png").symlink_to(outside)
    text = (
        f"![a](plots/kept.png) ![b]({outside}) ![c](plots/../../outside.png) ![d](plots/link.png) "
        f"![e](plots/missing.png) [f](javascript:alert(2)) [g](https://example.org) {SCRIPT}"
    )
    elements = Elements(markdown_to_html(text, plots))
    assert elements.sources() == [data_uri(plot), None, None, None, None]
    links = [attrs.get("href") for tag, attrs in elements.found if tag == "a"]
    assert links == [None, "https://example.org"]
    assert "script" not in [tag for tag, _ in elements.found]


def test_report_page_runs_no_script_and_reads_no_file_from_the_data(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """Catches unescaped templates or Markdown passing raw HTML (a label name, a task field or an
    example text becoming a live <script>), and any image outside plots/ being embedded."""
    run = copy_run(finished_run, tmp_path)
    outside = outside_png(tmp_path)
    label = f"neg{SCRIPT}![x]({outside})"
    for path in (run.card, run.metrics, run.train_log):  # rename the label 'negative' everywhere
        path.write_text(path.read_text().replace("negative", json.dumps(label)[1:-1]))
    predictions = pd.read_parquet(run.predictions).replace("negative", label)
    wrong = predictions["label"] != predictions["predicted"]
    assert wrong.any(), "the shared run's label noise should give the model some mistakes"
    text = f'{SCRIPT} src="/etc/x.png" ![y]({outside}) <img src="{outside}">'
    predictions.loc[wrong, "text"] = text
    predictions.rename(columns={"p_negative": f"p_{label}"}).to_parquet(run.predictions)
    config = load_config(str(run.config))
    task = config.task.model_copy(update={"description": SCRIPT})
    title = config.report.model_copy(update={"title": SCRIPT})
    run_report(config.model_copy(update={"task": task, "report": title}), run)

    page = run.report_html.read_text()
    elements = Elements(page)
    assert "script" not in [tag for tag, _ in elements.found]
    assert html.escape(SCRIPT, quote=False) in page  # the data is shown, as text
    embedded = [source for source in elements.sources() if source is not None]
    assert sorted(embedded) == sorted(map(data_uri, run.plots.glob("*.png")))
    assert data_uri(outside) not in page
    assert not [attrs for tag, attrs in elements.found if tag == "a" and attrs.get("href")]


# --- the HTML report in a real browser ---------------------------------------------------------

ARTIFACTS = Path(os.environ.get("DOMAINTUNE_ARTIFACTS", Path(__file__).parents[2] / "artifacts"))
PHONE = (412, 915)
PAGE_CHECK = """<script>
window.addEventListener("load", () => {
  const result = {
    headings: [...document.querySelectorAll("h2")].map((h) => h.textContent.trim()),
    images: [...document.images].map((i) => ({alt: i.alt, natural: i.naturalWidth,
                                               shown: i.getBoundingClientRect().width})),
    tables: document.querySelectorAll("table").length,
    viewport: window.innerWidth,
    pageWidth: document.documentElement.scrollWidth,
    pageHeight: document.documentElement.scrollHeight,
  };
  const out = document.createElement("pre");
  out.id = "page-check";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium for headless checks. A test never installs it: `make chromium` does (`make test`
    runs it first), so a machine without it skips with the reason."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed: run `make chromium` (needs root and apt-get)")
    return found


def headless(chromium: str, *args: str, page: Path, width: int, height: int) -> str:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        "--virtual-time-budget=10000",
        *args,
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_html_report_renders_on_a_phone_in_a_real_browser(
    finished_run: RunDir, chromium: str, tmp_path: Path
) -> None:
    page = tmp_path / "report-checked.html"
    page.write_text(finished_run.report_html.read_text().replace("</body>", PAGE_CHECK + "</body>"))
    dom = headless(chromium, "--dump-dom", page=page, width=PHONE[0], height=PHONE[1])
    found = re.search(r'<pre id="page-check">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the page's check script did not run"
    result = json.loads(html.unescape(found.group(1)))

    sections = [heading.split(". ", 1)[1] for heading in result["headings"]]
    assert sections == [
        "Dataset insights",
        "Training process",
        "Evaluation results",
        "Calibration",
        "Decision support",
        "Error analysis",
        "Application and impact",
        "Next iteration",
    ]
    assert len(result["images"]) == len(list(finished_run.plots.glob("*.png")))
    for image in result["images"]:
        assert image["natural"] > 0, f"image '{image['alt']}' did not decode"
        assert 0 < image["shown"] <= result["viewport"], (
            f"image '{image['alt']}' is wider than the screen"
        )
    assert result["tables"] >= 8
    # wide tables scroll inside themselves: the page itself never scrolls sideways on a phone
    assert result["pageWidth"] <= result["viewport"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, (width, height) in {
        "report-phone.png": (PHONE[0], result["pageHeight"]),
        "report-desktop.png": (1280, 2400),
    }.items():
        screenshot = tmp_path / name
        headless(
            chromium,
            f"--screenshot={screenshot}",
            page=finished_run.report_html,
            width=width,
            height=min(height, 16000),
        )
        assert screenshot.stat().st_size > 10_000
        shutil.copyfile(screenshot, ARTIFACTS / name)


def test_the_split_is_described_by_whose_it_is_and_what_leaked() -> None:
    """Catches a report that hides a carved split, or test rows that twin a training row."""
    given = examples.card(
        split={
            "method": "split_column",
            "split_column": "part",
            "made": {"validation": "random", "test": "given"},
            "rows": {"train": 700, "validation": 70, "test": 200},
            "near_train_kept": {"test": 3},
            "warnings": ["class 'x' has no rows in the test split you gave"],
        }
    )
    assert split_account(given) == (
        "The splits come from the split column `part`: train 700, validation 70, test 200. Your "
        "test rows stay as given: cleaned, never moved. Validation was carved from the training "
        "rows at random, stratified by class. 3 test rows near-duplicated a training row: kept, "
        "and the training copies dropped. Note: class 'x' has no rows in the test split you gave."
    )
    by_time = examples.card(
        split={
            "method": "time",
            "time_column": "sent",
            "made": {"validation": "time", "test": "time"},
            "rows": {"train": 8, "validation": 1, "test": 1},
            "near_train_kept": {"validation": 0, "test": 0},
            "time_range": {
                "train": ["2024-01-01T00:00:00+00:00", "2024-03-31T00:00:00+00:00"],
                "validation": ["2024-04-01T00:00:00+00:00", "2024-04-30T00:00:00+00:00"],
                "test": ["2024-05-01T00:00:00+00:00", "2024-05-31T00:00:00+00:00"],
            },
        }
    )
    assert "by time, the latest held out" in split_account(by_time)
    assert "test 2024-05-01 to 2024-05-31." in split_account(by_time)


def test_a_distilled_model_names_its_teacher_and_the_gap_to_it(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """The run stands as its own teacher here: the report must name it, its model and test
    macro-F1 (from the teacher's own files), and the student's distance from it."""
    run = copy_run(finished_run, tmp_path)
    log = TrainLog.read(run.train_log)
    log.model_copy(update={"distilled_from": str(finished_run.root)}).write(run.train_log)
    run_report(load_config(str(run.config)), run)
    report = run.report_md.read_text()
    teacher = json.loads(finished_run.metrics.read_text())["macro_f1"]
    assert (
        f"- Distilled from the run `{finished_run.root}` (`{log.model}`, test macro-F1 " in report
    )
    assert (
        f"{teacher:.3f}): 50% of the loss came from its probabilities at temperature 2.0" in report
    )
    assert (
        "the gold labels; this model's test macro-F1 is +0.0 points from the teacher's.\n" in report
    )
    assert "Distilled from" not in finished_run.report_md.read_text()


def test_a_student_of_unlabelled_texts_says_how_many_were_read_kept_and_learnt_from(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """Catches the unlabelled texts left out of the data section or the training one, or their
    drops counted wrong (cleaning is what the twins and near-duplicates do not explain)."""
    run = copy_run(finished_run, tmp_path)
    log = TrainLog.read(run.train_log)
    update = {
        "distilled_from": str(finished_run.root),
        "distilled_unlabelled_rows": 30,
        "distilled_augmented_rows": 50,
    }
    log.model_copy(update=update).write(run.train_log)
    near = CardStep(
        name="near_duplicates",
        description="dropped",
        rows_before=31,
        rows_after=30,
        changed=1,
        examples=[],
        removed=1,
    )
    summary = UnlabelledSummary(
        source="pool.csv",
        rows_read=40,
        rows_kept=30,
        steps=[near],
        labelled_twins={"test": 2, "validation": 1, "train": 3},
    )
    card = DataCard.read(run.card)
    card.model_copy(update={"unlabelled": summary}).write(run.card)
    run_report(load_config(str(run.config)), run)
    report = run.report_md.read_text()
    assert (
        "**Unlabelled texts.** Of 40 texts without labels read from `pool.csv`, 30 were kept for "
        "distillation: 3 went in cleaning, 6 repeated or nearly repeated a labelled text (test 2, "
        "validation 1, train 3) and 1 nearly repeated another unlabelled text.\n" in report
    )
    assert (
        f"it learnt from the teacher on {log.train_rows} labelled texts + 30 unlabelled ones + "
        "50 changed copies of training texts (words dropped, replaced, cut to a span), all but "
        "the labelled ones by its probabilities alone" in report
    )
    assert "Unlabelled texts" not in finished_run.report_md.read_text()
