"""What the CPU can do fast, read from /proc/cpuinfo: shared by training and prediction.

bf16 halves memory traffic, but only hardware with bf16 arithmetic gains from it: on a CPU with
AVX2 alone, autocast to bf16 was measured about 20x slower than fp32. So bf16 is picked only on a
CUDA GPU that supports it, or on a CPU with AVX512_BF16 or AMX instructions.
"""

from __future__ import annotations

from pathlib import Path

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


def bf16_is_fast(*, cuda: bool, cuda_bf16: bool, flags: frozenset[str]) -> bool:
    """Whether the device has bf16 arithmetic (on a GPU, the GPU decides)."""
    if cuda:
        return cuda_bf16
    return bool(FAST_BF16_CPU_FLAGS & flags)
