from __future__ import annotations

from pathlib import Path

import pytest

from domaintune.hardware import bf16_is_fast, choose_precision, cpu_flags, distributed_on_cpu


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma avx512_bf16\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "fma", "avx512_bf16"}
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
    assert bf16_is_fast(cuda, cuda_bf16, frozenset(flags)) is fast


def test_an_explicit_precision_is_kept() -> None:
    assert choose_precision("fp32") == "fp32"
    assert choose_precision("bf16") == "bf16"
    assert choose_precision("auto") in {"fp32", "bf16"}


def test_several_processes_without_cuda_train_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed_on_cpu()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed_on_cpu()
