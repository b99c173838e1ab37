"""What the machine runs fast: the numeric precision, device and thread count training uses.

bf16 halves memory traffic, but only hardware with bf16 arithmetic gains from it: on a CPU with
AVX2 alone, autocast to bf16 was measured about 20x slower than fp32. So `auto` picks bf16 only
on a CUDA GPU that supports it, or on a CPU with AVX512_BF16 or AMX instructions.

Everything the Trainer's device settings depend on is read once into a `Machine`, and
`device_settings` is a pure function of it, so tests can state any machine (a GPU with or without
bf16, a CPU with or without bf16 units, several processes) on whatever machine they run on.

Attention, too, depends on the precision. PyTorch's fused CPU attention kernel (what Transformers
picks by default, `sdpa`) has a slow bf16 backward pass: profiled on a two-core Xeon with AMX, it
took half of a bf16 training step of MiniLM-L6 (18 ms a layer against 1 ms forward), and the plain
operators (`eager`) made the whole step 1.9x as fast (283 against 146 rows/s). In fp32 the two ran
alike (120 rows/s each), and on a GPU the fused kernel is the fast one, so `auto` picks `eager`
only for bf16 on a CPU (`bench/train_profile.py` prints the profile).

Training runs in bf16 by autocast: the weights it keeps and saves stay fp32. Evaluate scores in
fp32 on every machine, so a model's figures are the same wherever they are measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from domaintune.errors import UserError
from domaintune.launch import world_size
from domaintune.machine import bf16_is_fast, usable_cpu_flags

Precision = Literal["fp32", "bf16"]
Requested = Literal["auto", "fp32", "bf16"]
Attention = Literal["auto", "sdpa", "eager"]


@dataclass(frozen=True)
class Machine:
    """What training's device settings depend on."""

    cuda: bool
    cuda_bf16: bool
    """The CUDA GPU has bf16 arithmetic (Ampere or later); False without CUDA."""
    cpu_flags: frozenset[str]
    processes: int

    @classmethod
    def current(cls) -> Machine:
        cuda = torch.cuda.is_available()
        return cls(
            cuda=cuda,
            cuda_bf16=cuda and torch.cuda.is_bf16_supported(),
            cpu_flags=usable_cpu_flags(),
            processes=world_size(),
        )


@dataclass(frozen=True)
class DeviceSettings:
    """What the Trainer is told about the device: precision, CPU or not, pinned batches."""

    precision: Precision
    use_cpu: bool
    pin_memory: bool

    def trainer_arguments(self) -> dict[str, bool]:
        """The `TrainingArguments` keywords these settings set."""
        return {
            "bf16": self.precision == "bf16",
            "use_cpu": self.use_cpu,
            "dataloader_pin_memory": self.pin_memory,
        }


def resolve_precision(requested: Requested, machine: Machine) -> Precision:
    """The configured precision, with `auto` resolved for `machine`.

    bf16 forced on a GPU without it is refused here: the Trainer would stop with a traceback.
    On a CPU without bf16 units it is allowed, only slow.
    """
    if requested == "bf16" and machine.cuda and not machine.cuda_bf16:
        raise UserError(
            "train.precision is bf16 but this GPU has no bf16 arithmetic (it needs an Ampere "
            "or later GPU): set train.precision=auto or fp32"
        )
    if requested != "auto":
        return requested
    fast = bf16_is_fast(cuda=machine.cuda, cuda_bf16=machine.cuda_bf16, flags=machine.cpu_flags)
    return "bf16" if fast else "fp32"


def device_settings(requested: Requested, machine: Machine) -> DeviceSettings:
    """The Trainer's device settings for `requested` precision on `machine`.

    Without CUDA the Trainer must be told to use the CPU in two cases: for bf16, which
    TrainingArguments otherwise refuses ("Your setup doesn't support bf16/gpu"), and for several
    processes, which otherwise each train alone on all the data instead of joining a gloo group.
    Otherwise it is left to pick the device (CUDA, or Apple's MPS). Batches are pinned only where
    they are copied to a GPU.
    """
    precision = resolve_precision(requested, machine)
    use_cpu = not machine.cuda and (precision == "bf16" or machine.processes > 1)
    return DeviceSettings(precision=precision, use_cpu=use_cpu, pin_memory=machine.cuda)


def training_attention(requested: Attention, *, bf16: bool, on_cpu: bool) -> str | None:
    """The attention implementation to train with; None leaves it to Transformers (`sdpa` where
    the architecture has it). `auto` picks `eager` for bf16 on a CPU (see the module's docstring)."""
    if requested != "auto":
        return requested
    return "eager" if bf16 and on_cpu else None


def apply_threads(threads: int | None) -> int:
    """Set PyTorch's CPU threads when configured; return the number it uses."""
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
