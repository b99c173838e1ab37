from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_run

from domaintune.config import load_config
from domaintune.errors import UserError
from domaintune.report.build import (
    BASELINE_NAMES,
    findings,
    largest_confusion,
    next_steps,
    run_report,
)
from domaintune.rundir import RunDir

LABELS = ["negative", "neutral", "positive"]
MATRIX = [[90, 8, 2], [20, 25, 5], [3, 4, 43]]


def metrics() -> dict:
    per_class = {
        "negative": {"precision": 0.8, "recall": 0.9, "f1-score": 0.85, "support": 100},
        "neutral": {"precision": 0.68, "recall": 0.5, "f1-score": 0.58, "support": 50},
        "positive": {"precision": 0.86, "recall": 0.86, "f1-score": 0.86, "support": 50},
    }
    return {
        "labels": LABELS,
        "accuracy": 0.79,
        "macro_f1": 0.763,
        "test_rows": 200,
        "per_class": per_class,
        "confusion_matrix": MATRIX,
        "intervals": {"macro_f1": [0.70, 0.82]},
        "baselines": {
            "majority": {"macro_f1": 0.22, "intervals": {"macro_f1": [0.2, 0.24]}},
            "tfidf_logreg": {"macro_f1": 0.74, "intervals": {"macro_f1": [0.68, 0.80]}},
        },
        "significance": {
            "majority": {"macro_f1_difference": 0.543, "verdict": "better"},
            "tfidf_logreg": {"macro_f1_difference": 0.023, "verdict": "not significant"},
        },
        "by_length": [
            {"min_words": 1, "max_words": 9, "rows": 100, "macro_f1": 0.8},
            {"min_words": 10, "max_words": 60, "rows": 100, "macro_f1": 0.6},
        ],
        "calibration": {"ece_after": 0.08},
    }


CARD = {
    "classes": {"clean": {"negative": 500, "neutral": 250, "positive": 250}},
    "splits": {"train": {"negative": 400, "neutral": 200, "positive": 200}},
    "steps": [{"name": "conflicts", "changed": 6}],
}
LOG = {
    "truncated_rows": 40,
    "train_rows": 800,
    "stopped_early": False,
    "epochs_run": 3.0,
    "epochs_planned": 3,
    "max_length": 64,
}


def test_largest_confusion_is_the_biggest_off_diagonal_cell() -> None:
    assert largest_confusion(MATRIX, LABELS) == {
        "true": "neutral",
        "predicted": "negative",
        "count": 20,
        "share": 0.4,
    }
    assert largest_confusion([[5, 0], [0, 5]], ["a", "b"]) is None


def test_findings_judge_from_the_figures() -> None:
    found = findings(metrics(), CARD, LOG)
    assert (found["weakest"], found["strongest"]) == ("neutral", "positive")
    assert found["errors_per_1000"] == 210
    verdicts = {c["name"]: c["verdict"] for c in found["comparisons"]}
    assert verdicts == {"majority": "better", "tfidf_logreg": "not significant"}
    assert found["beats_all"] is False
    assert found["weakest_bucket"]["min_words"] == 10


def test_next_steps_follow_from_this_runs_weaknesses() -> None:
    found = findings(metrics(), CARD, LOG)
    steps = " ".join(next_steps(metrics(), CARD, LOG, found, audited=4))
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
    quiet = next_steps(metrics(), CARD, LOG, found, audited=None)
    assert not any("label audit" in step for step in quiet)


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
    del metrics["calibration"]
    run.metrics.write_text(json.dumps(metrics))
    with pytest.raises(UserError, match="run `domaintune evaluate"):
        run_report(load_config(str(run.config)), run)


def test_label_audit_mistakes_are_reported_and_its_absence_said(
    finished_run: RunDir, tmp_path: Path
) -> None:
    run = copy_run(finished_run, tmp_path)
    config = load_config(str(run.config))
    run.label_audit.unlink(missing_ok=True)
    run_report(config, run)
    assert "no label audit was run" in run.report_md.read_text()

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
        }
    )
    audit.to_parquet(run.label_audit)
    run_report(config, run)
    report = run.report_md.read_text()
    assert "2 of the model's test mistakes are on rows the label audit flagged" in report
    rows = table_rows(report, "| text | given label | model says |")
    assert [row[-1] for row in rows] == ["0.010", "0.020"]  # most suspect first
    assert "2 of the model's test mistakes are on rows the label audit also doubts" in report


# --- the HTML report in a real browser ---------------------------------------------------------

ARTIFACTS = Path(os.environ.get("DOMAINTUNE_ARTIFACTS", Path(__file__).parents[1] / "artifacts"))
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
    """Chromium for headless checks; installed with apt-get (as root) when missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
        # the package lists may be missing or stale: refresh them only when needed
        for command in (install, ["apt-get", "update", "-q"], install):
            subprocess.run(command, capture_output=True, check=False, timeout=900)
            found = shutil.which("chromium")
            if found:
                break
    if found is None:
        pytest.skip(
            "chromium is not installed and apt-get could not install it "
            "(needs root and a reachable Debian mirror)"
        )
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
