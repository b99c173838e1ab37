"""What the CPU can do fast, read from /proc/cpuinfo: shared by training and prediction.

bf16 halves memory traffic, but only hardware with bf16 arithmetic gains from it: on a CPU with
AVX2 alone, autocast to bf16 was measured about 20x slower than fp32. So bf16 is picked only on a
CUDA GPU that supports it, or on a CPU with AVX512_BF16 or AMX instructions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""/proc/cpuinfo flags of CPUs with bf16 arithmetic units (AVX512_BF16, Intel AMX)."""
ONEDNN_ISAS_WITHOUT_BF16 = frozenset(
    {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
)
"""`ONEDNN_MAX_CPU_ISA` values below `AVX512_CORE_BF16`: oneDNN, which runs PyTorch's bf16
matrix products on a CPU, is then kept off the bf16 units, and bf16 runs as slowly as on a CPU
without them."""


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags; empty where /proc/cpuinfo is missing (macOS, Windows)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def usable_cpu_flags(
    cpuinfo: Path = Path("/proc/cpuinfo"), environ: Mapping[str, str] = os.environ
) -> frozenset[str]:
    """The CPU's flags that this process's kernels may use: without the bf16 units where
    `ONEDNN_MAX_CPU_ISA` caps oneDNN below them (a container pinned to AVX2 kernels, or a newer
    CPU made to behave as an AVX2 one to see what domaintune picks there)."""
    flags = cpu_flags(cpuinfo)
    if environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper() in ONEDNN_ISAS_WITHOUT_BF16:
        return flags - FAST_BF16_CPU_FLAGS
    return flags


def bf16_is_fast(*, cuda: bool, cuda_bf16: bool, flags: frozenset[str]) -> bool:
    """Whether the device has bf16 arithmetic (on a GPU, the GPU decides)."""
    if cuda:
        return cuda_bf16
    return bool(FAST_BF16_CPU_FLAGS & flags)


def physical_cores(cpuinfo: Path = Path("/proc/cpuinfo")) -> int:
    """Physical cores this process may run on: one compute thread per core is fastest, since
    hyper-threads of a core share its arithmetic units. From /proc/cpuinfo's (physical id, core
    id) pairs, capped by the CPUs the process is allowed; the logical CPU count where that file
    says nothing (macOS, Windows, some containers)."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores: set[tuple[str, str]] = set()
    try:
        package = core = ""
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "physical id":
                package = value
            elif key == "core id":
                core = value
                cores.add((package, core))
    except OSError:
        pass
    return max(1, min(len(cores) or allowed or 1, allowed or 1))
