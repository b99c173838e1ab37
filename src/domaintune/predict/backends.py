"""Backends turn a tokenised batch into logits. Each takes numpy arrays and gives numpy logits,
so the predictor around them (normalise, batch, calibrate, decide) is written once.

PyTorch runs in fp32, or in bf16 by autocast where the hardware has bf16 arithmetic: a CPU with
AVX512_BF16 or AMX, or a GPU with it. On a CPU without those units bf16 is many times slower, so
`auto` keeps fp32 there.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from domaintune.machine import bf16_is_fast, cpu_flags
from domaintune.models import load_classifier

Precision = Literal["fp32", "bf16"]


class Backend(Protocol):
    """What runs the model: a batch of token ids (and masks) in, one row of logits per text out."""

    name: str
    """How the backend is named in outputs and logs, e.g. `torch-fp32` or `onnx-int8`."""

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


def auto_precision() -> Precision:
    """bf16 where this machine's device has bf16 arithmetic, else fp32."""
    cuda = torch.cuda.is_available()
    fast = bf16_is_fast(
        cuda=cuda, cuda_bf16=cuda and torch.cuda.is_bf16_supported(), flags=cpu_flags()
    )
    return "bf16" if fast else "fp32"


class TorchBackend:
    """The saved PyTorch model, on a GPU when there is one."""

    def __init__(self, folder: Path, *, precision: Precision = "fp32") -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_classifier(str(folder)).eval().to(self.device)
        self.precision = precision
        self.name = f"torch-{precision}"

    @torch.inference_mode()
    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        inputs = {key: torch.from_numpy(value).to(self.device) for key, value in batch.items()}
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if self.precision == "bf16"
            else nullcontext()
        )
        with autocast:
            return self.model(**inputs).logits.float().cpu().numpy()
