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
from domaintune.train.augment import augmented_copies
from domaintune.train.distill import distillation_loss, teacher_folder, teacher_logits
from domaintune.train.tokencache import UNLABELLED
from domaintune.train.trainer import fit, training_arguments, training_log
from tests.helpers import make_rows
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


def test_rows_without_a_gold_label_learn_from_the_teacher_alone() -> None:
    """Catches unlabelled rows (gold UNLABELLED) counted in the cross-entropy, the cross-entropy
    averaged over all rows rather than the labelled ones, or class weights put on the KL term."""
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [-1.0, 0.5, 1.5]])
    teacher = torch.tensor([[1.0, 0.5, 0.0], [-0.5, 2.0, 0.0], [0.0, 0.0, 3.0]])
    gold = torch.tensor([0.0, UNLABELLED, 2.0])
    class_weights = torch.tensor([2.0, 1.0, 0.5])
    temperature, weight = 2.0, 0.3
    student = torch.softmax(logits / temperature, dim=-1)
    taught = torch.softmax(teacher / temperature, dim=-1)
    kl = (taught * (taught.log() - student.log())).sum() / 3  # every row, unweighted
    nll = -torch.log_softmax(logits, dim=-1)
    ce = (2.0 * nll[0, 0] + 0.5 * nll[2, 2]) / (2.0 + 0.5)  # the labelled rows, weighted
    expected = weight * temperature**2 * kl + (1 - weight) * ce
    loss = distillation_loss(class_weights, temperature=temperature, weight=weight)
    outputs = SequenceClassifierOutput(logits=logits)
    assert loss(outputs, torch.cat([gold[:, None], teacher], dim=1)) == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_a_batch_of_unlabelled_rows_alone_has_a_finite_loss_and_gradient() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]], requires_grad=True)
    teacher = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    labels = torch.cat([torch.full((2, 1), float(UNLABELLED)), teacher], dim=1)
    outputs = SequenceClassifierOutput(logits=logits)
    taught = distillation_loss(None, temperature=1.0, weight=0.5)(outputs, labels)
    assert torch.isfinite(taught) and taught > 0  # the KL term alone, with no NaN from the CE
    taught.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    no_teacher = distillation_loss(None, temperature=1.0, weight=0.0)(outputs, labels)
    assert no_teacher == 0.0


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
        "train.distill_augment=0",  # training rows are the prepared split's alone
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


def test_the_student_also_learns_the_teachers_logits_on_unlabelled_texts(
    tmp_path: Path,
    tickets_csv: Path,
    tiny_model: Path,
    finished_run: RunDir,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Catches unlabelled texts left out of training, given a gold label, given logits of other
    texts, tokenised past the training split's token limit, or counted in train_rows."""
    train_on_the_cpu(monkeypatch, None)
    texts = make_rows(30, seed=11)["text"].str.replace("#", "#7", regex=False).tolist()
    texts.append(" ".join(make_rows(40, seed=3)["text"]))  # far over the token limit
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"text": texts}).to_csv(pool, index=False)
    config, run = prepared_run(
        tmp_path,
        tickets_csv,
        tiny_model,
        f"train.distill_from={finished_run.root}",
        f"data.unlabelled={pool}",
        "train.distill_augment=0",  # the texts added to training are the unlabelled ones alone
        "train.epochs=1",
    )
    unlabelled = pd.read_parquet(run.unlabelled)
    assert len(unlabelled) == len(texts)
    args = training_arguments(config.train, tmp_path / "checkpoints")
    labels = DataCard.read(run.card).labels
    expected = teacher_logits(finished_run.model, unlabelled, None, labels, args)
    fitted = fit(config, run, args)
    train_rows = len(pd.read_parquet(run.split("train")))
    added = fitted.data.train.select(range(train_rows, len(fitted.data.train)))
    attached = np.array(added["labels"])
    assert attached.shape == (len(texts), 1 + len(labels))
    assert (attached[:, 0] == UNLABELLED).all()
    assert attached[:, 1:] == pytest.approx(expected, abs=1e-4)
    assert max(added["length"]) == fitted.data.max_length == len(added["input_ids"][-1])
    log = training_log(config, fitted, None)
    assert log.distilled_unlabelled_rows == len(texts)
    assert log.train_rows == log.train_windows == train_rows
    batches = -(-(train_rows + len(texts)) // config.train.batch_size)
    assert log.steps == batches  # one epoch over labelled and unlabelled rows


def test_the_student_learns_the_teachers_logits_on_changed_copies_of_its_training_texts(
    tmp_path: Path,
    tickets_csv: Path,
    tiny_model: Path,
    finished_run: RunDir,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Catches train.distill_augment ignored, its copies given a gold label or the logits of
    other texts, or counted as unlabelled texts or training rows."""
    train_on_the_cpu(monkeypatch, None)
    config, run = prepared_run(
        tmp_path,
        tickets_csv,
        tiny_model,
        f"train.distill_from={finished_run.root}",
        "train.distill_augment=2",
        "train.epochs=1",
    )
    args = training_arguments(config.train, tmp_path / "checkpoints")
    train = pd.read_parquet(run.split("train"))
    copies = augmented_copies(
        train,
        ["text"],
        copies=2,
        max_rows=config.train.distill_augment_max_rows,
        seed=config.train.seed,
    )
    assert len(train) < len(copies) <= 2 * len(train)
    labels = DataCard.read(run.card).labels
    expected = teacher_logits(finished_run.model, copies, None, labels, args)
    fitted = fit(config, run, args)
    added = fitted.data.train.select(range(len(train), len(fitted.data.train)))
    attached = np.array(added["labels"])
    assert attached.shape == (len(copies), 1 + len(labels))
    assert (attached[:, 0] == UNLABELLED).all()
    assert attached[:, 1:] == pytest.approx(expected, abs=1e-4)
    log = training_log(config, fitted, None)
    assert (log.distilled_augmented_rows, log.distilled_unlabelled_rows) == (len(copies), 0)
    assert log.train_rows == log.train_windows == len(train)
