"""Which backend computes a Predictor's logits.

`auto` takes the run's ONNX export when `domaintune export` made one from these weights, its
parity check passed and ONNX Runtime is installed (the fastest on a CPU: int8 weights, fused
attention); else PyTorch, in bf16 where the hardware has bf16 arithmetic, else fp32. `torch` and
`onnx` ask for one (`onnx` without a usable export is an error that says why); `precision` (fp32
or bf16) is PyTorch's, so giving it under `auto` also means PyTorch. Evaluate asks for PyTorch
fp32, so a run's figures do not depend on the machine or on an export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from domaintune.errors import UserError
from domaintune.models import weights_digest
from domaintune.predict.backends import Backend, OnnxBackend, TorchBackend, auto_precision
from domaintune.rundir import RunDir
from domaintune.runfiles import ExportParity

BackendChoice = Literal["auto", "torch", "torch-fp32", "torch-bf16", "onnx"]
PrecisionChoice = Literal["auto", "fp32", "bf16"]
BACKENDS = ("auto", "torch", "torch-fp32", "torch-bf16", "onnx")
"""What `--backend` takes: `torch-fp32` and `torch-bf16` are PyTorch at that precision (bf16
pays at batch 32 and more; at batch 1 it was slower than fp32 here), named as outputs name the
backend."""


@dataclass(frozen=True)
class OnnxExport:
    """A run's export that prediction may use: its model file, and the parity it passed."""

    path: Path
    parity: ExportParity

    @property
    def backend(self) -> str:
        return self.parity.backend


def run_of(folder: Path) -> RunDir | None:
    """The run directory a model folder belongs to (runs/NAME for runs/NAME/model), if any."""
    run = RunDir(folder.parent)
    return run if run.is_marked() and run.model == folder else None


def usable_export(folder: Path) -> tuple[OnnxExport | None, str]:
    """The export of the run that holds `folder`, when it was made from these weights and passed
    its parity check; else None. And why (in words)."""
    run = run_of(folder)
    if run is None:
        return None, f"{folder} is not the model folder of a run, so it has no ONNX export"
    if not run.parity.is_file() or not run.onnx_model.is_file():
        return None, f"{run.root} has no ONNX export (make one with `{run.command('export')}`)"
    parity = ExportParity.read(run.parity)
    if not parity.passed:
        return None, f"{run.onnx_model} failed its parity check: `{run.command('export')}`"
    if parity.model_sha256 != weights_digest(folder):
        return None, (
            f"{run.onnx_model} was exported from other weights than {folder}'s: export again "
            f"with `{run.command('export')}`"
        )
    return OnnxExport(run.onnx_model, parity), (
        f"{run.onnx_model}, the run's export (parity with PyTorch passed on "
        f"{parity.test_rows} test texts)"
    )


def choose_backend(
    folder: Path, *, backend: BackendChoice, precision: PrecisionChoice, threads: int | None
) -> tuple[Backend, str]:
    """The backend asked for, and why it is the one (in words)."""
    if backend not in BACKENDS:
        raise UserError(f"backend {backend!r}: choose {', '.join(BACKENDS)}")
    if precision not in ("auto", "fp32", "bf16"):
        raise UserError(f"precision {precision!r}: choose auto, fp32 or bf16")
    if backend.startswith("torch-"):
        named = backend.removeprefix("torch-")
        if precision not in ("auto", named):
            raise UserError(f"backend {backend} and precision {precision} disagree: give one")
        backend, precision = "torch", named  # type: ignore[assignment]
    if backend == "onnx" and precision != "auto":
        raise UserError(
            f"precision {precision} is PyTorch's: the ONNX backend runs the export as it was "
            "made (int8 or fp32); leave precision at auto, or ask for backend torch"
        )
    if backend == "torch":
        reason = "asked for"
    elif precision != "auto":
        reason = f"precision {precision} asked for, which is PyTorch's"
    else:
        export, reason = usable_export(folder)
        if export is None and backend == "onnx":
            raise UserError(f"backend onnx: {reason}")
        if export is not None:
            try:
                return OnnxBackend(export.path, name=export.backend, threads=threads), reason
            except UserError as error:  # ONNX Runtime missing, or the file unreadable
                if backend == "onnx":
                    raise
                reason = f"the export is not usable here: {error}"
    chosen = auto_precision() if precision == "auto" else precision
    return TorchBackend(folder, precision=chosen), reason
