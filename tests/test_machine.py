"""The CPU's flags and what runs fast on them, on fake /proc/cpuinfo files of every kind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from domaintune.machine import bf16_is_fast, cpu_flags, physical_cores, usable_cpu_flags

SAPPHIRE_RAPIDS = "fpu sse2 avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8"
ZEN4 = "fpu sse2 avx2 fma avx512f avx512bw avx512_bf16"
HASWELL = "fpu sse2 avx avx2 fma"


def cpuinfo_text(flags: str, processors: int = 2) -> str:
    """A /proc/cpuinfo as Linux writes it on x86: one block per logical processor."""
    block = "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\nflags\t\t: {flags}\n"
    return "\n".join(block.format(n=n, flags=flags) for n in range(processors))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (cpuinfo_text(SAPPHIRE_RAPIDS), set(SAPPHIRE_RAPIDS.split())),
        (cpuinfo_text(HASWELL), set(HASWELL.split())),
        ("processor\t: 0\nFeatures\t: fp asimd bf16\n", set()),  # ARM names them otherwise
        ("", set()),
    ],
    ids=["amx", "avx2-only", "arm", "empty"],
)
def test_cpu_flags_are_read_from_cpuinfo(text: str, expected: set[str], tmp_path: Path) -> None:
    """Catches a parser that misses the flags line, splits it wrongly or reads a field's name."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert cpu_flags(cpuinfo) == expected


def test_cpu_flags_are_empty_without_cpuinfo(tmp_path: Path) -> None:
    """macOS and Windows have no /proc/cpuinfo: catches a crash there instead of plain fp32."""
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    ("cuda", "cuda_bf16", "flags", "fast"),
    [
        (False, False, {"avx2", "fma"}, False),  # AVX2 only, like the machine this was tuned on
        (False, False, {"avx2", "avx512f", "avx512bw"}, False),  # AVX-512 without bf16 units
        (False, False, {"avx512f", "avx512_bf16"}, True),
        (False, False, {"amx_bf16", "amx_tile"}, True),
        (True, True, set(), True),
        (True, False, {"amx_bf16"}, False),  # training runs on the GPU, which lacks bf16
    ],
)
def test_bf16_only_where_the_hardware_has_it(
    cuda: bool, cuda_bf16: bool, flags: set[str], fast: bool
) -> None:
    assert bf16_is_fast(cuda=cuda, cuda_bf16=cuda_bf16, flags=frozenset(flags)) is fast


def cpuinfo_cores(cores: int, threads_per_core: int, packages: int = 1) -> str:
    """A /proc/cpuinfo whose logical processors name their package and core, as on x86."""
    blocks = [
        f"processor\t: {n}\nphysical id\t: {package}\ncore id\t\t: {core}\n"
        for n, (package, core, _) in enumerate(
            (package, core, thread)
            for package in range(packages)
            for thread in range(threads_per_core)
            for core in range(cores)
        )
    ]
    return "\n".join(blocks)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (cpuinfo_cores(4, 2), 4),  # hyper-threads share a core's arithmetic units
        (cpuinfo_cores(2, 1, packages=2), 4),  # the same core id on two packages is two cores
        ("processor\t: 0\nFeatures\t: fp asimd\n", None),  # ARM names no cores: logical CPUs
    ],
    ids=["hyper-threads", "two-packages", "no-core-ids"],
)
def test_physical_cores_count_cores_not_hyper_threads(
    text: str, expected: int | None, tmp_path: Path
) -> None:
    """Catches one ONNX Runtime thread per hyper-thread (they fight over the same units) or
    cores counted once across packages; capped by the CPUs the process may use."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    found = physical_cores(cpuinfo)
    assert found == min(expected or allowed, allowed)
    assert physical_cores(tmp_path / "missing") == allowed


@pytest.mark.parametrize(
    ("cap", "bf16"),
    [
        (None, True),
        ("AVX2", False),  # an AVX2 machine's kernels on a CPU with bf16 units
        ("avx512_core_vnni", False),  # oneDNN reads the value in any case
        ("AVX512_CORE_BF16", True),
        ("AVX512_CORE_AMX", True),
    ],
)
def test_a_onednn_cap_below_bf16_takes_the_bf16_units_away(
    cap: str | None, bf16: bool, tmp_path: Path
) -> None:
    """Catches bf16 chosen where ONEDNN_MAX_CPU_ISA keeps PyTorch's matrix products off the bf16
    units (many times slower than fp32), and bf16 lost where the cap still allows it."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(cpuinfo_text(SAPPHIRE_RAPIDS))
    environ = {} if cap is None else {"ONEDNN_MAX_CPU_ISA": cap}
    flags = usable_cpu_flags(cpuinfo, environ)
    assert bf16_is_fast(cuda=False, cuda_bf16=False, flags=flags) is bf16
    assert "avx2" in flags and "amx_int8" in flags  # only the bf16 units are taken away
