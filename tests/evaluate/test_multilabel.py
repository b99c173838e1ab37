"""multi_label evaluation: set scores, their bootstrap, baselines and the stage's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaintune.data.prepare import run_prepare
from domaintune.evaluate.multilabel import resampled_set_scores, weighted_set_scores
from domaintune.evaluate.scoring import resample_rows
from domaintune.evaluate.stage import run_evaluate
from domaintune.multilabel import set_scores
from domaintune.rundir import RunDir
from domaintune.runfiles import MultiLabelMetrics
from domaintune.train.trainer import run_train
from tests.helpers import fast_config, write_tagged_tickets


def test_each_resample_scores_as_the_rows_it_drew() -> None:
    rng = np.random.default_rng(0)
    gold = rng.random((40, 3)) < 0.4
    predicted = gold ^ (rng.random((40, 3)) < 0.2)
    rows = resample_rows(40, samples=70, seed=1)  # more than one batch of resamples
    resampled = resampled_set_scores(gold, predicted, rows)
    assert len(resampled["micro_f1"]) == 70
    for sample in (0, 1, 63, 64, 69):
        drawn = rows[sample]
        expected = set_scores(gold[drawn], predicted[drawn])
        for name, value in expected.items():
            assert resampled[name][sample] == pytest.approx(value), name
    identity = weighted_set_scores(gold, predicted, np.ones((1, 40)))
    assert identity["macro_f1"][0] == pytest.approx(set_scores(gold, predicted)["macro_f1"])


def test_evaluate_scores_label_sets_against_baselines(
    tmp_path: Path, tiny_ticket_model: Path
) -> None:
    data = write_tagged_tickets(tmp_path, count=400)
    config = fast_config(
        data, tiny_ticket_model, "task.objective=multi_label", "evaluate.bootstrap_samples=200"
    )
    run = RunDir(tmp_path / "run")
    run_prepare(config, run)
    run_train(config, run)
    metrics = run_evaluate(config, run)
    assert isinstance(metrics, MultiLabelMetrics)
    assert MultiLabelMetrics.read(run.metrics) == metrics
    assert '"objective": "multi_label"' in run.metrics.read_text()
    assert metrics.micro_f1 > 0.8
    low, high = metrics.intervals.micro_f1
    assert low <= metrics.micro_f1 <= high
    majority = metrics.baselines["majority"]
    assert metrics.micro_f1 > majority.micro_f1
    assert metrics.significance["majority"].verdict == "better"
    assert set(metrics.baselines) == {"majority", "tfidf_logreg", "linear_probe"}
    assert metrics.baselines["tfidf_logreg"].micro_f1 > 0.8  # the words give the tags away
    assert sum(report.support for report in metrics.per_label.values()) == int(
        np.trace(np.array(metrics.co_occurrence))
    )
    model_card = run.model_card.read_text()
    assert "Micro F1" in model_card and "thresholds.json" in model_card
    predictions = pd.read_parquet(run.predictions)
    assert list(predictions.columns) == [
        "text",
        "label",
        "predicted",
        "p_billing",
        "p_bug",
        "p_feature",
        "p_login",
    ]
    assert len(predictions) == metrics.test_rows
    two = predictions[predictions["label"].map(len) == 2]
    assert len(two) > 0 and set(two["label"].iloc[0]) <= set(metrics.labels)
    thresholds = np.array([metrics.per_label[label].threshold for label in metrics.labels])
    probabilities = predictions[[f"p_{label}" for label in metrics.labels]].to_numpy()
    decided = [list(np.array(metrics.labels)[row]) for row in probabilities >= thresholds]
    assert decided == [list(values) for values in predictions["predicted"]]
