"""Backends turn a tokenised batch into logits. Each takes numpy arrays and gives numpy logits,
so the predictor around them (normalise, batch, calibrate, decide) is written once.

PyTorch runs in fp32, or in bf16 by autocast where the hardware has bf16 arithmetic: a CPU with
AVX512_BF16 or AMX, or a GPU with it; its linear layers then keep bf16 weights, so autocast does
not cast them again on every call (`models.cast_linear_layers`). On a CPU without those units
bf16 is many times slower, so `auto` keeps fp32 there. PyTorch runs eagerly: `torch.compile`
(dynamic shapes) made MiniLM-L6 in bf16 1.24x as fast on a Xeon with AMX, batches of 32 sorted
by length (854 against 688 texts/s, two threads) and random batches of 7 (462 against 369, one
thread), but its first batch took 16-17 s to compile and its first batch of one text 11 s more
(a size of 1 is compiled apart), and it needs a C++ compiler at run time: too much for a
`predict` of a few texts, and a server would stall on its first single text.

ONNX Runtime runs the model `domaintune export` wrote (attention fused, int8 weights unless
exported without), on the CPU. It is an optional dependency (the `onnx` extra), imported only
when an ONNX backend is made.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from domaintune.errors import UserError, first_line
from domaintune.machine import bf16_is_fast, physical_cores, usable_cpu_flags
from domaintune.models import cast_linear_layers, load_classifier

Precision = Literal["fp32", "bf16"]
ONNX_EXTRA = "pip install 'domaintune[onnx]'"
"""How to get ONNX Runtime and onnx, named in every error about them."""
UNFUSED = ("SkipLayerNormFusion",)
"""ONNX Runtime fusions left out when a session loads a model, as export leaves them out too: the
SkipLayerNormalization kernel (residual add and layer norm in one) took 6.9-7.9 ns per element
on a Xeon with AVX-512 (onnxruntime 1.32, one thread), the Add, Add and LayerNormalization it
replaces 1.3 together; in MiniLM-L6 that is about a fifth of an int8 model's time at batch 1."""


ONNX_ROWS_PER_RUN = 8
"""Texts ONNX Runtime computes in one run; a larger batch runs in parts, each padded only to its
own longest text (a batch comes sorted by length, so the parts differ in length). Padding, not
the call, is what a large batch costs ONNX Runtime: MiniLM-L6 int8 on the default task's test
texts, 128 at a time sorted by length (two threads, a Xeon with AMX, three rounds), ran 680-731
texts/s at batch 8 and 613-628 at batch 32 in one run; in parts of 8, batch 32 ran 696-740 and
batch 64 719-748 (parts of 4: 680-707; of 16: 661-712). The int8 export's attention inputs take
one scale per run, so a part's texts share it, as a batch of 8's do; its labels agreed with
PyTorch's on 99.58% of those texts at batch 32 (99.30% before the split)."""


class Backend(Protocol):
    """What runs the model: a batch of token ids (and masks) in, one row of logits per text out."""

    name: str
    """How the backend is named in outputs and logs, e.g. `torch-fp32` or `onnx-int8`."""

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


def auto_precision() -> Precision:
    """bf16 where this machine's device has bf16 arithmetic, else fp32."""
    cuda = torch.cuda.is_available()
    fast = bf16_is_fast(
        cuda=cuda, cuda_bf16=cuda and torch.cuda.is_bf16_supported(), flags=usable_cpu_flags()
    )
    return "bf16" if fast else "fp32"


class TorchBackend:
    """The saved PyTorch model, on a GPU when there is one."""

    def __init__(self, folder: Path, *, precision: Precision = "fp32") -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_classifier(str(folder)).eval().to(self.device)
        if precision == "bf16":
            cast_linear_layers(self.model, torch.bfloat16)  # the same logits, no cast a call
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


def import_onnxruntime() -> Any:
    """The onnxruntime module; a one-line error saying how to install it when it is missing."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError(f"ONNX Runtime is not installed: {ONNX_EXTRA}") from None
    return onnxruntime


class OnnxBackend:
    """An exported model in ONNX Runtime on the CPU, with `threads` compute threads (None: one
    per physical core). Only the inputs the model declares are fed; a tokenised batch lacking one
    is an error, never a guess."""

    def __init__(self, path: Path, *, name: str = "onnx", threads: int | None = None) -> None:
        onnxruntime = import_onnxruntime()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or physical_cores()
        options.inter_op_num_threads = 1  # the graph is one chain: nothing runs beside it
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings are for its developers
        try:
            self.session = onnxruntime.InferenceSession(
                str(path),
                options,
                providers=["CPUExecutionProvider"],
                disabled_optimizers=list(UNFUSED),
            )
        except Exception as error:  # onnxruntime raises its own unexported exception types
            raise UserError(
                f"{path} could not be loaded by ONNX Runtime ({first_line(error)}): export the "
                "run again"
            ) from None
        self.inputs = [node.name for node in self.session.get_inputs()]
        self.name = name

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The batch's logits, run in parts of at most `ONNX_ROWS_PER_RUN` texts."""
        missing = [name for name in self.inputs if name not in batch]
        if missing:
            raise ValueError(f"the ONNX model needs {', '.join(missing)}, the batch lacks it")
        feed = {name: np.ascontiguousarray(batch[name], dtype=np.int64) for name in self.inputs}
        rows = len(feed[self.inputs[0]])
        if rows <= ONNX_ROWS_PER_RUN or "attention_mask" not in feed:
            return self.session.run(None, feed)[0]
        parts = []
        for start in range(0, rows, ONNX_ROWS_PER_RUN):
            part = {name: value[start : start + ONNX_ROWS_PER_RUN] for name, value in feed.items()}
            read = part["attention_mask"].any(axis=0)  # the part's own padding, either side
            parts.append(self.session.run(None, {k: v[:, read] for k, v in part.items()})[0])
        return np.concatenate(parts)
