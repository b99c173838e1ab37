"""Steps 1 and 2 of the export: the model as a plain ONNX graph, then fused by ONNX Runtime."""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from domaintune.errors import UserError
from domaintune.predict.backends import ONNX_EXTRA, import_onnxruntime

KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
"""The inputs prediction gives a model, in the order the export takes them."""
REQUIRED_INPUTS = ("input_ids", "attention_mask")
OPTIMIZER_MODEL_TYPE = "bert"
"""ONNX Runtime's fusion patterns for BERT-like encoders (BERT, RoBERTa, DistilBERT, MiniLM...);
a graph they do not match is left as it is, and the parity check still holds it to account."""


def import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise UserError(f"onnx is not installed: {ONNX_EXTRA}") from None
    import_onnxruntime()
    return onnx


@contextmanager
def quiet() -> Iterator[None]:
    """The exporter's tracer warnings and ONNX Runtime's log lines are for their developers: a
    user sees domaintune's summary, and stderr keeps only errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


class LogitsOnly(torch.nn.Module):
    """The classifier as a function of its inputs by position, giving the logits alone."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.model(**inputs).logits


def model_inputs(model: torch.nn.Module, tokenizer_inputs: list[str], folder: Path) -> list[str]:
    """The inputs to export: those the tokenizer gives, each known to prediction and taken by the
    model. Anything else is refused: a model fed less than it expects answers wrongly."""
    unknown = [name for name in tokenizer_inputs if name not in KNOWN_INPUTS]
    missing = [name for name in REQUIRED_INPUTS if name not in tokenizer_inputs]
    taken = inspect.signature(model.forward).parameters
    not_taken = [name for name in tokenizer_inputs if name not in taken]
    if unknown or missing or not_taken:
        problem = (
            f"its tokenizer gives {', '.join(unknown)}"
            if unknown
            else f"its tokenizer does not give {', '.join(missing)}"
            if missing
            else f"the model does not take {', '.join(not_taken)}"
        )
        raise UserError(
            f"{folder} cannot be exported: {problem}; domaintune exports models that take "
            f"{', '.join(KNOWN_INPUTS[:2])} and optionally {KNOWN_INPUTS[2]}"
        )
    return [name for name in KNOWN_INPUTS if name in tokenizer_inputs]


def export_graph(
    model: torch.nn.Module,
    path: Path,
    *,
    example: dict[str, np.ndarray],
    inputs: list[str],
    opset: int,
) -> None:
    """Write the plain ONNX graph of `model`, loaded with eager attention (step 1)."""
    args = tuple(torch.from_numpy(example[name]) for name in inputs)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in inputs}
    with quiet(), torch.no_grad():
        torch.onnx.export(
            LogitsOnly(model),
            args,
            str(path),
            dynamo=False,  # the TorchScript exporter: see the module's docstring
            input_names=inputs,
            output_names=["logits"],
            dynamic_axes={**dynamic, "logits": {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
        )


def fuse(source: Path, target: Path, *, model: torch.nn.Module) -> dict[str, int]:
    """Step 2; returns how many of each fused operator the optimiser made.

    Every fusion but residual add + layer norm, which stay apart (`predict.backends.UNFUSED`)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    options = FusionOptions(OPTIMIZER_MODEL_TYPE)
    options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False
    with quiet():
        optimized = optimize_model(
            str(source),
            model_type=OPTIMIZER_MODEL_TYPE,
            num_heads=getattr(config, "num_attention_heads", 0),
            hidden_size=getattr(config, "hidden_size", 0),
            optimization_options=options,
        )
        fused = optimized.get_fused_operator_statistics()
        optimized.save_model_to_file(str(target))
    return {name: int(count) for name, count in sorted(fused.items()) if count}
