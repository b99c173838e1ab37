from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from domaintune import machine
from domaintune.errors import UserError
from domaintune.launch import process_rank, world_size
from domaintune.predict.backends import auto_precision
from domaintune.train import hardware
from domaintune.train.hardware import (
    DeviceSettings,
    Machine,
    device_settings,
    resolve_precision,
    training_attention,
)
from tests.test_machine import HASWELL, SAPPHIRE_RAPIDS, ZEN4


def cpu(flags: str, processes: int = 1) -> Machine:
    return Machine(
        cuda=False, cuda_bf16=False, cpu_flags=frozenset(flags.split()), processes=processes
    )


def gpu(bf16: bool, processes: int = 1) -> Machine:
    return Machine(cuda=True, cuda_bf16=bf16, cpu_flags=frozenset(), processes=processes)


@pytest.mark.parametrize(
    ("requested", "machine", "precision", "use_cpu", "pin_memory"),
    [
        ("auto", gpu(bf16=True), "bf16", False, True),
        ("auto", gpu(bf16=False), "fp32", False, True),
        ("auto", gpu(bf16=True, processes=4), "bf16", False, True),  # nccl, not the CPU
        ("auto", cpu(SAPPHIRE_RAPIDS), "bf16", True, False),  # AMX
        ("auto", cpu(ZEN4), "bf16", True, False),  # AVX512_BF16 without AMX
        ("auto", cpu(HASWELL), "fp32", False, False),
        ("auto", cpu(HASWELL, processes=2), "fp32", True, False),  # gloo
        ("auto", cpu(ZEN4, processes=2), "bf16", True, False),
        ("fp32", cpu(SAPPHIRE_RAPIDS), "fp32", False, False),
        ("fp32", gpu(bf16=True), "fp32", False, True),
        ("bf16", cpu(HASWELL), "bf16", True, False),  # slow, but what was asked
        ("bf16", gpu(bf16=True), "bf16", False, True),
    ],
    ids=[
        "cuda-bf16",
        "cuda-no-bf16",
        "cuda-4-processes",
        "cpu-amx",
        "cpu-avx512-bf16",
        "cpu-avx2",
        "cpu-avx2-2-processes",
        "cpu-bf16-2-processes",
        "fp32-on-bf16-cpu",
        "fp32-on-bf16-gpu",
        "bf16-on-avx2-cpu",
        "bf16-on-bf16-gpu",
    ],
)
def test_device_settings_for_each_machine(
    requested: str, machine: Machine, precision: str, use_cpu: bool, pin_memory: bool
) -> None:
    """Every branch, on any host. Catches bf16 on a CPU without use_cpu (the Trainer refuses it),
    use_cpu on a GPU (training would leave the GPU idle), several CPU processes without use_cpu
    (each would train alone on all the data), an explicit precision overridden by `auto`, and
    batches pinned for a CPU."""
    settings = device_settings(requested, machine)
    assert settings == DeviceSettings(precision, use_cpu, pin_memory)
    assert settings.trainer_arguments() == {
        "bf16": precision == "bf16",
        "use_cpu": use_cpu,
        "dataloader_pin_memory": pin_memory,
    }


@pytest.mark.parametrize(
    ("requested", "bf16", "on_cpu", "attention"),
    [
        ("auto", True, True, "eager"),
        ("auto", False, True, None),
        ("auto", True, False, None),
        ("auto", False, False, None),
        ("sdpa", True, True, "sdpa"),
        ("eager", False, False, "eager"),
    ],
    ids=["bf16-cpu", "fp32-cpu", "bf16-gpu", "fp32-gpu", "sdpa-forced", "eager-forced"],
)
def test_training_attention_for_each_machine(
    requested: str, bf16: bool, on_cpu: bool, attention: str | None
) -> None:
    """Catches the fused kernel's slow bf16 backward pass kept on a CPU, eager forced on a GPU or
    in fp32 (where the fused kernel is as fast or faster), and an explicit choice overridden."""
    assert training_attention(requested, bf16=bf16, on_cpu=on_cpu) == attention


def test_bf16_forced_on_a_gpu_without_it_is_a_user_error() -> None:
    """Catches the Trainer's own ValueError ("You need Ampere+ GPU") reaching the user."""
    with pytest.raises(UserError, match=r"train\.precision is bf16 but this GPU has no bf16"):
        device_settings("bf16", gpu(bf16=False))


def test_this_machine_is_read_from_torch_cpuinfo_and_the_launcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Catches Machine.current ignoring WORLD_SIZE, the CPU's flags or the GPU's bf16 support,
    and asking CUDA about bf16 where there is no CUDA."""
    flags = frozenset(ZEN4.split())
    monkeypatch.setattr(hardware, "usable_cpu_flags", lambda: flags)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: pytest.fail("no CUDA to ask"))
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert Machine.current() == Machine(False, False, flags, 3)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.delenv("WORLD_SIZE")
    assert Machine.current() == Machine(True, True, flags, 1)


def test_a_onednn_cap_below_bf16_makes_auto_train_and_predict_in_fp32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a CPU with bf16 units, ONEDNN_MAX_CPU_ISA=AVX2 (an AVX2 machine's kernels): catches
    training or prediction still choosing bf16, which would then run many times slower."""
    flags = frozenset(SAPPHIRE_RAPIDS.split())
    monkeypatch.setattr(machine, "cpu_flags", lambda cpuinfo=None: flags)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert resolve_precision("auto", Machine.current()) == "bf16"
    assert auto_precision() == "bf16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert resolve_precision("auto", Machine.current()) == "fp32"
    assert auto_precision() == "fp32"


def test_launcher_variables_are_read_as_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert (world_size(), process_rank()) == (1, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    assert (world_size(), process_rank()) == (4, 3)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORLD_SIZE", "two"),
        ("WORLD_SIZE", "1.5"),
        ("WORLD_SIZE", "0"),
        ("WORLD_SIZE", ""),
        ("RANK", "first"),
        ("RANK", "-1"),
    ],
)
def test_a_bad_launcher_variable_is_a_user_error_naming_it(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches a ValueError traceback, or a count of 0 processes taken as valid."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(UserError, match=f"{name} is {re.escape(repr(value))}.*: unset it"):
        process_rank()


@pytest.mark.parametrize(
    ("name", "value", "command"),
    [("RANK", "abc", "config"), ("WORLD_SIZE", "2.0", "config"), ("WORLD_SIZE", "x", "prepare")],
)
def test_the_cli_refuses_a_bad_launcher_variable_in_one_line(
    name: str, value: str, command: str, tmp_path: Path, tickets_csv: Path
) -> None:
    """Catches a traceback (the variable was read outside the CLI's error handling) and a stage
    that writes before the variable is checked."""
    args = {
        "config": ["config", "show"],
        "prepare": ["prepare", "--data", str(tickets_csv), "--out", "run"],
    }[command]
    result = subprocess.run(
        [sys.executable, "-c", "from domaintune.cli import main; main()", *args],
        cwd=tmp_path,
        env={**os.environ, name: value},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: the environment variable {name} is {value!r}, not a whole number of at least "
        f"{0 if name == 'RANK' else 1}: unset it (torchrun and accelerate launch set it themselves)"
    ]
    assert not (tmp_path / "run").exists()
