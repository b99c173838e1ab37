"""LoRA (peft): train small low-rank adapters and the classifier head instead of every weight.

The adapters are merged into the weights before saving, so the saved model is a plain Transformers
model: `pipeline`, `Predictor` and any other tool load it without peft.
"""

from __future__ import annotations

import torch

from domaintune.config import TrainConfig
from domaintune.errors import UserError, first_line


def with_lora(
    model: torch.nn.Module, train: TrainConfig, *, causal: bool = False
) -> torch.nn.Module:
    """`model` with adapters on `lora_target_modules`; only adapters and `lora_modules_to_save` train."""
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError:
        raise UserError("train.method=lora needs peft: pip install 'domaintune[lora]'") from None
    adapters = LoraConfig(
        task_type=TaskType.CAUSAL_LM if causal else TaskType.SEQ_CLS,
        r=train.lora_r,
        lora_alpha=train.lora_alpha,
        lora_dropout=train.lora_dropout,
        target_modules=list(train.lora_target_modules),
        modules_to_save=list(train.lora_modules_to_save) or None,
    )
    try:
        return get_peft_model(model, adapters)
    except ValueError as error:
        raise UserError(
            f"train.lora_target_modules {train.lora_target_modules} do not fit this model "
            f"({first_line(error)}): name its attention layers, e.g. [query, value]"
        ) from None


def merged(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model, with any adapters merged into its weights."""
    merge = getattr(model, "merge_and_unload", None)
    return merge() if callable(merge) else model


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, all) parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
