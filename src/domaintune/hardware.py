"""What the machine runs fast: the numeric precision and thread count training uses.

bf16 halves memory traffic, but only hardware with bf16 arithmetic gains from it: on a CPU with
AVX2 alone, autocast to bf16 was measured about 20x slower than fp32. So `auto` picks bf16 only
on a CUDA GPU that supports it, or on a CPU with AVX512_BF16 or AMX instructions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["fp32", "bf16"]
FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""/proc/cpuinfo flags of CPUs with bf16 arithmetic units (AVX512_BF16, Intel AMX)."""


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags; empty where /proc/cpuinfo is missing (macOS, Windows)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def bf16_is_fast(cuda: bool, cuda_bf16: bool, flags: frozenset[str]) -> bool:
    """Whether the device training runs on has bf16 arithmetic (on a GPU, the GPU decides)."""
    if cuda:
        return cuda_bf16
    return bool(FAST_BF16_CPU_FLAGS & flags)


def choose_precision(requested: Literal["auto", "fp32", "bf16"]) -> Precision:
    """The configured precision, with `auto` resolved for this machine."""
    if requested != "auto":
        return requested
    cuda = torch.cuda.is_available()
    fast = bf16_is_fast(cuda, cuda and torch.cuda.is_bf16_supported(), cpu_flags())
    return "bf16" if fast else "fp32"


def apply_threads(threads: int | None) -> int:
    """Set PyTorch's CPU threads when configured; return the number it uses."""
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def distributed_on_cpu() -> bool:
    """Launched as several processes (torchrun, accelerate launch) on a machine without CUDA.

    The Trainer then has to be told to use the CPU, or each process trains alone on all the data.
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
