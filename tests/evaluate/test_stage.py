from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from sklearn.metrics import f1_score

from domaintune.config import EvaluateConfig, load_config
from domaintune.errors import UserError
from domaintune.evaluate.baselines import fit_baseline, tfidf_logreg
from domaintune.evaluate.stage import run_evaluate
from domaintune.predict import Predictor
from domaintune.rundir import RunDir
from tests.helpers import copy_run, make_rows


def test_the_tfidf_baseline_takes_the_c_best_on_validation() -> None:
    """Catches C chosen by anything but validation macro-F1 (the first or last of the grid, the
    training score): the grid's Cs differ a lot there, and the pick must be the best of them."""
    rows = make_rows(300)
    splits = {"train": rows[:200], "validation": rows[200:250], "test": rows[250:]}
    grid = [10.0, 1e-4, 1.0]
    options = EvaluateConfig(tfidf_c_grid=grid)
    predicted, details = fit_baseline("tfidf_logreg", splits, options, class_weight=None)
    validation = splits["validation"]
    tried = {
        c: f1_score(
            validation["label"],
            tfidf_logreg(c, class_weight=None, seed=options.seed)
            .fit(splits["train"]["text"], splits["train"]["label"])
            .predict(validation["text"]),
            average="macro",
        )
        for c in grid
    }
    assert max(tried.values()) - min(tried.values()) > 0.3  # the choice matters here
    assert details["c"] == max(tried, key=tried.get)
    assert details["validation_macro_f1"] == pytest.approx(max(tried.values()))
    assert (predicted == splits["test"]["label"].to_numpy()).mean() > 0.8


def test_the_majority_baseline_predicts_the_training_splits_largest_class() -> None:
    """Catches the majority taken from validation or test (balanced here, so a tie), or from all
    rows: only the training split has more 'positive' rows."""
    rows = make_rows(300)
    positive = rows[rows["label"] == "positive"]
    splits = {"train": pd.concat([rows[:150], positive[:20]]), "validation": rows[150:225]}
    splits["test"] = rows[225:]
    majority, _ = fit_baseline("majority", splits, EvaluateConfig(), class_weight=None)
    assert set(majority) == {"positive"} and len(majority) == len(splits["test"])


def macro_f1_by_hand(gold: pd.Series, predicted: pd.Series, labels: list[str]) -> float:
    """Mean over labels of 2TP / (2TP + FP + FN), 0 for a label never seen nor predicted."""
    values = []
    for label in labels:
        true_positive = int(((gold == label) & (predicted == label)).sum())
        wrong = int(((gold == label) != (predicted == label)).sum())
        values.append(2 * true_positive / (2 * true_positive + wrong) if true_positive else 0.0)
    return float(np.mean(values))


def test_metrics_are_what_the_predictions_give(finished_run: RunDir) -> None:
    """Catches metrics.json disagreeing with predictions.parquet: accuracy, macro-F1, per-class
    support, confusion matrix, intervals that miss their point, predicted labels that are not the
    most probable, probabilities that do not sum to 1, and the rules' test outcomes."""
    m = json.loads(finished_run.metrics.read_text())
    predictions = pd.read_parquet(finished_run.predictions)
    labels = m["labels"]
    probs = predictions[[f"p_{label}" for label in labels]].to_numpy()
    gold, predicted = predictions["label"], predictions["predicted"]
    assert np.allclose(probs.sum(axis=1), 1)
    assert (np.array(labels)[probs.argmax(axis=1)] == predicted).all()
    assert len(predictions) == m["test_rows"] == len(pd.read_parquet(finished_run.split("test")))
    assert m["accuracy"] == pytest.approx((gold == predicted).mean())
    assert m["macro_f1"] == pytest.approx(macro_f1_by_hand(gold, predicted, labels))
    counts = pd.crosstab(gold, predicted).reindex(index=labels, columns=labels, fill_value=0)
    assert m["confusion_matrix"] == counts.to_numpy().tolist()
    for label in labels:
        assert m["per_class"][label]["support"] == (gold == label).sum()
    for name in ["accuracy", "macro_f1", *(f"f1[{label}]" for label in labels)]:
        low, high = m["intervals"][name]
        point = m[name] if name in m else m["per_class"][name[3:-1]]["f1-score"]
        assert low <= point <= high

    rule = m["decision"]["class_rule"]
    flagged = probs[:, labels.index(rule["label"])] >= rule["test"]["threshold"]
    actual = (gold == rule["label"]).to_numpy()
    assert rule["test"]["recall"] == pytest.approx((flagged & actual).sum() / actual.sum())
    assert rule["test"]["precision"] == pytest.approx((flagged & actual).sum() / flagged.sum())
    abstain = m["decision"]["abstain"]["test"]
    if abstain is not None:
        kept = probs.max(axis=1) >= abstain["threshold"]
        assert abstain["coverage"] == pytest.approx(kept.mean())
        assert abstain["accuracy"] == pytest.approx((gold == predicted)[kept].mean())


def test_trusted_scores_leave_out_the_test_rows_the_audit_doubts(finished_run: RunDir) -> None:
    """Catches the trusted-rows figures drifting from predictions.parquet and the audit file:
    scored on the wrong rows (doubted ones, other splits' texts) or missing where the shared
    run's label noise gives the audit test rows to doubt."""
    m = json.loads(finished_run.metrics.read_text())
    predictions = pd.read_parquet(finished_run.predictions)
    audit = pd.read_parquet(finished_run.label_audit)
    doubted = set(audit.loc[audit["likely_error"], "text"])
    trusted = predictions[~predictions["text"].isin(doubted)]
    assert 0 < len(trusted) < len(predictions), "the shared run's noise should be doubted in test"
    found = m["trusted_labels"]
    assert found["rows"] == len(trusted)
    assert found["doubted_rows"] == len(predictions) - len(trusted)
    assert found["macro_f1"]["model"] == pytest.approx(
        f1_score(trusted["label"], trusted["predicted"], average="macro")
    )
    assert set(found["macro_f1"]) == {"model", *m["baselines"]}


def test_the_rules_thresholds_are_chosen_on_the_validation_split(finished_run: RunDir) -> None:
    """Catches a rule fitted on the test split, or on uncalibrated probabilities: each threshold
    is recomputed by brute force from the validation split's calibrated probabilities."""
    m = json.loads(finished_run.metrics.read_text())
    labels, decision = m["labels"], m["decision"]
    validation = pd.read_parquet(finished_run.split("validation"))
    predictor = Predictor(finished_run.model, backend="torch", precision="fp32")  # as evaluate
    logits = predictor.predict_logits(validation["text"].tolist())
    probs = softmax(logits / m["calibration"]["temperature"], axis=1)
    gold = validation["label"].map(labels.index).to_numpy()

    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == gold
    target = decision["abstain"]["target_accuracy"]
    reaching = [t for t in np.unique(confidence) if correct[confidence >= t].mean() >= target]
    expected = min(reaching) if reaching else None
    chosen = decision["abstain"]["test"]
    assert (None if chosen is None else chosen["threshold"]) == pytest.approx(expected)

    rule = decision["class_rule"]
    index = labels.index(rule["label"])
    scores, actual = probs[:, index], gold == index
    recall = {t: (actual & (scores >= t)).sum() / actual.sum() for t in np.unique(scores)}
    expected = max(t for t, value in recall.items() if value >= rule["value"])
    assert rule["test"]["threshold"] == pytest.approx(expected)


def test_an_unknown_decision_label_is_refused_before_anything_is_cleared(
    finished_run: RunDir, tmp_path: Path
) -> None:
    run = copy_run(finished_run, tmp_path)
    config = load_config(
        str(run.config), ["evaluate.decision.label=nope", "evaluate.decision.value=0.9"]
    )
    with pytest.raises(UserError, match="'nope' is not a label of this data"):
        run_evaluate(config, run)
    assert run.metrics.is_file() and run.calibration.is_file()
