"""The training benches run end to end on a tiny model, so that a change to the code they drive
breaks a test, not the next measurement (one did: a tokenizer signature changed under them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import fast_config

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench(script: str, config: Path, out: Path, *args: str) -> str:
    """The bench's standard output; fails the test with its standard error if it fails."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--config", str(config), "--out", str(out), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def config_file(tmp_path: Path, tickets_csv: Path, tiny_model: Path) -> Path:
    config = fast_config(tickets_csv, tiny_model, "train.batch_size=auto")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


@pytest.mark.slow
def test_the_throughput_bench_compares_both_recipes(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    printed = bench(
        "train_throughput.py",
        config_file,
        out,
        "--epochs",
        "1",
        "--set",
        "train.precision=bf16",
    )
    assert "rows/s (training steps)" in printed
    result = json.loads((out / "train_throughput.json").read_text())
    classic, ours = result["classic"], result["domaintune"]
    assert (classic["precision"], classic["attention"]) == ("fp32", "sdpa")
    assert (ours["precision"], ours["attention"]) == ("bf16", "eager")  # forced on any CPU
    assert result["ratios_domaintune_to_classic"]["rows_per_second"] > 0
    assert 0 <= ours["test_macro_f1"] <= 1 and ours["by_epoch"]


@pytest.mark.slow
def test_the_step_variant_bench_times_every_part(config_file: Path, tmp_path: Path) -> None:
    variants = "base,freeze+nodrop+b64+bf16+eager,freeze+b32+compile"
    printed = bench(
        "train_step_variants.py",
        config_file,
        tmp_path / "b",
        "--steps",
        "2",
        "--variants",
        variants,
    )
    rows = {line.split()[0]: line.split() for line in printed.splitlines()[1:]}
    assert list(rows) == variants.split(",")
    assert all(float(row[1]) > 0 for row in rows.values())


@pytest.mark.slow
def test_the_profile_bench_splits_a_step_into_phases_and_operator_groups(
    config_file: Path, tmp_path: Path
) -> None:
    printed = bench("train_profile.py", config_file, tmp_path / "b", "--steps", "2", "--bf16")
    lines = printed.splitlines()
    settings = ["fp32+sdpa", "fp32+eager", "bf16+sdpa", "bf16+eager"]
    assert [line.split()[0] for line in lines[2:6]] == settings
    groups = [line for line in lines[7:] if line.strip()]
    shares = [[float(cell.rstrip("%")) for cell in line.split()[-4:]] for line in groups]
    assert [sum(column) for column in zip(*shares, strict=True)] == pytest.approx([100] * 4, abs=1)
