"""Distillation: a student model trained on a teacher run's probabilities as well as on the gold
labels (Hinton et al., 2015).

The teacher is the saved model of a finished run. It reads the student's prepared training texts
with its own tokenizer and token limit, once before training, in the precision training uses;
its logits ride along with each training row's label (`labels` becomes [label, logit, ...]), so
the Trainer's batching, length grouping and checkpoints work unchanged. Validation rows keep
their plain labels: the student is scored, and its best epoch kept, by gold labels alone.

Texts without labels (data/unlabelled.parquet, from data.unlabelled) are read by the teacher too
and appended to the training rows with the gold label UNLABELLED: they teach by the teacher's
probabilities alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import TrainingArguments

from domaintune.data.fields import TextFields
from domaintune.errors import UserError
from domaintune.models import cast_linear_layers, load_classifier, load_tokenizer
from domaintune.rundir import RunDir
from domaintune.train.tokencache import LENGTH_MULTIPLE, UNLABELLED, model_inputs

TEACHER_BATCH = 64


def teacher_folder(distill_from: str) -> Path:
    """The teacher run's model folder; a clear error when the run has none."""
    folder = RunDir(Path(distill_from)).model
    if not (folder / "config.json").is_file():
        raise UserError(
            f"train.distill_from: {distill_from} has no trained model ({folder} is missing): "
            "give a run directory whose train stage finished"
        )
    return folder


def teacher_logits(
    folder: Path,
    frame: pd.DataFrame,
    fields: TextFields | None,
    labels: list[str],
    args: TrainingArguments,
) -> np.ndarray:
    """The teacher's logits for each row of `frame`, its columns in the order of `labels`."""
    model = load_classifier(str(folder)).to(args.device).eval()
    if args.bf16:
        cast_linear_layers(model, torch.bfloat16)  # the same logits, no cast a batch
    taught = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if sorted(taught) != sorted(labels):
        raise UserError(
            f"train.distill_from: the teacher at {folder} predicts {', '.join(taught)}, but this "
            f"run's labels are {', '.join(labels)}: distil from a run on the same classes"
        )
    tokenizer = load_tokenizer(str(folder))
    encoded = tokenizer(
        *model_inputs(frame, fields, tokenizer),
        truncation=True,
        max_length=tokenizer.model_max_length,  # the teacher's training limit, saved with it
    )
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    logits = np.zeros((len(frame), len(taught)), dtype=np.float32)
    with torch.inference_mode():
        starts = range(0, len(order), TEACHER_BATCH)
        for start in tqdm(starts, desc="teacher", unit="batch", disable=not args.should_log):
            rows = order[start : start + TEACHER_BATCH]
            batch = tokenizer.pad(
                [{key: values[i] for key, values in encoded.items()} for i in rows],
                pad_to_multiple_of=LENGTH_MULTIPLE,
                return_tensors="pt",
            ).to(args.device)
            with torch.autocast(args.device.type, dtype=torch.bfloat16, enabled=args.bf16):
                logits[rows] = model(**batch).logits.float().cpu().numpy()
    return logits[:, [taught.index(label) for label in labels]]


def distillation_loss(
    class_weights: torch.Tensor | None, *, temperature: float, weight: float
) -> Any:
    """The Trainer's loss: on training rows ([label, teacher logits...]), `weight` times the
    KL divergence from the teacher's softened probabilities (times temperature², which keeps its
    gradients on the scale of the gold labels') plus the rest times cross-entropy; on validation
    rows (a plain label), cross-entropy alone. Rows without a gold label (UNLABELLED) count in
    the KL term only: the cross-entropy is over the labelled rows of the batch, 0 where it has
    none."""

    def compute(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs["logits"].float()
        weights = None if class_weights is None else class_weights.to(logits.device)
        if labels.dim() == 1:
            return torch.nn.functional.cross_entropy(logits, labels.long(), weight=weights)
        gold = labelled_cross_entropy(logits, labels[:, 0].long(), weights)
        taught = torch.nn.functional.kl_div(
            torch.log_softmax(logits / temperature, dim=-1),
            torch.log_softmax(labels[:, 1:].float() / temperature, dim=-1),
            log_target=True,
            reduction="batchmean",
        )
        return weight * temperature**2 * taught + (1 - weight) * gold

    return compute


def labelled_cross_entropy(
    logits: torch.Tensor, gold: torch.Tensor, weights: torch.Tensor | None
) -> torch.Tensor:
    """Cross-entropy over the rows with a gold label; 0 for a batch of unlabelled texts alone,
    where PyTorch's mean over no row would be NaN."""
    labelled = gold != UNLABELLED
    if not labelled.any():
        return logits.new_zeros(())
    return torch.nn.functional.cross_entropy(logits[labelled], gold[labelled], weight=weights)
