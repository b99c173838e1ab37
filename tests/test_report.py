from __future__ import annotations

from domaintune.report.build import findings, largest_confusion, next_steps

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
    separated = {c["name"]: c["separated"] for c in found["comparisons"]}
    assert separated == {"majority": True, "tfidf_logreg": False}


def test_next_steps_follow_from_this_runs_weaknesses() -> None:
    found = findings(metrics(), CARD, LOG)
    steps = " ".join(next_steps(metrics(), CARD, LOG, found))
    assert "'neutral', the weakest class" in steps
    assert "'neutral' that the model calls 'negative' (20 test rows" in steps
    assert "more epochs" in steps  # still improving at the last epoch
    assert "5.0% of training texts were cut" in steps
    assert "not clearly ahead of TF-IDF" in steps
    assert "6 rows shared their text" in steps
