from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers.modeling_outputs import SequenceClassifierOutput

from domaintune.config import build_config
from domaintune.data.fields import load_fields
from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard
from domaintune.train.distill import distillation_loss, teacher_folder, teacher_logits
from domaintune.train.trainer import fit, training_arguments
from tests.train.test_trainer import prepared_run, train_on_the_cpu


def test_the_loss_mixes_the_teachers_probabilities_and_the_gold_labels() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]])
    outputs = SequenceClassifierOutput(logits=logits)
    gold = torch.tensor([0, 2])
    cross_entropy = torch.nn.functional.cross_entropy(logits, gold)
    same = torch.cat([gold[:, None].float(), logits], dim=1)  # the teacher agrees exactly
    assert distillation_loss(None, temperature=2.0, weight=0.0)(outputs, same) == pytest.approx(
        cross_entropy
    )
    assert distillation_loss(None, temperature=2.0, weight=1.0)(outputs, same) == pytest.approx(
        0.0, abs=1e-6
    )
    other = torch.cat([gold[:, None].float(), -logits], dim=1)
    assert distillation_loss(None, temperature=2.0, weight=1.0)(outputs, other) > 0.1
    # validation rows carry plain labels: cross-entropy alone, whatever the weight
    assert distillation_loss(None, temperature=2.0, weight=1.0)(outputs, gold) == pytest.approx(
        cross_entropy
    )


@pytest.mark.parametrize(
    "overrides",
    [
        ["task.objective=multi_label"],
        ["task.objective=regression"],
        ["model.long_text=chunks"],
    ],
)
def test_distillation_is_refused_where_the_teacher_has_no_probability_per_text(
    overrides: list[str],
) -> None:
    with pytest.raises(UserError, match=r"train\.distill_from"):
        build_config({}, ["train.distill_from=runs/teacher", *overrides])


def test_a_teacher_run_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no trained model"):
        teacher_folder(str(tmp_path))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_student_trains_on_the_teachers_logits_in_its_own_label_order(
    tmp_path: Path,
    tickets_csv: Path,
    tiny_model: Path,
    finished_run: RunDir,
    precision: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Catches teacher logits that are not attached to their own training rows, or attached in
    the teacher's label order where the student's differs; in each precision the teacher may
    run in (bf16 forced on any CPU: it is only slow without bf16 units)."""
    train_on_the_cpu(monkeypatch, None)
    config, run = prepared_run(
        tmp_path,
        tickets_csv,
        tiny_model,
        f"train.distill_from={finished_run.root}",
        f"train.precision={precision}",
    )
    args = training_arguments(config.train, tmp_path / "checkpoints")
    assert args.bf16 == (precision == "bf16")
    frame = pd.read_parquet(run.split("train"))
    labels = DataCard.read(run.card).labels
    reversed_order = teacher_logits(
        finished_run.model, frame, load_fields(run.data), labels[::-1], args
    )
    fitted = fit(config, run, args)
    attached = np.array(fitted.data.train["labels"])
    assert attached.shape == (len(frame), 1 + len(labels))
    assert attached[:, 0] == pytest.approx(frame["label"].map(labels.index).to_numpy())
    assert attached[:, 1:] == pytest.approx(reversed_order[:, ::-1], abs=1e-4)
    assert fitted.trainer.state.best_metric is not None  # validation scored by gold labels


def test_a_teacher_of_other_classes_is_refused(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, finished_run: RunDir
) -> None:
    config, run = prepared_run(tmp_path, tickets_csv, tiny_model)
    args = training_arguments(config.train, tmp_path / "checkpoints")
    frame = pd.read_parquet(run.split("train"))
    with pytest.raises(UserError, match="same classes"):
        teacher_logits(finished_run.model, frame, None, ["spam", "ham"], args)
