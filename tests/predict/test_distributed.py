from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from domaintune.errors import UserError
from domaintune.predict.distributed import MARKER, predict_on_ray
from tests.exported import EXPORTS, workbook
from tests.predict.test_files import exported_rows, input_rows, predict_file, write_table

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, on start

RAY_SETTINGS: dict = {
    "text_column": "text",
    "keep_columns": None,
    "output_format": None,
    "batch_size": 1,
    "chunk_rows": 7,
    "address": None,
    "workers": None,
}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A Ray cluster of this machine alone, two CPUs, as `predict --engine ray` starts one."""
    ray = pytest.importorskip("ray", reason="--engine ray needs domaintune[distributed]")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_ray_gives_the_predictions_of_predict_on_the_same_file(
    local_ray: Any, ruled_classifier: Path, tmp_path: Path, suffix: str
) -> None:
    """Catches the distributed run labelling or reading texts differently from `predict` on one
    machine (a CSV id read as a number, a column dropped, another prediction path), losing or
    repeating rows between blocks, or leaving an existing output of its own in place: the part
    files hold `predict`'s table, row for row (joined on the id: Ray does not keep the input's
    order), and replace the folder a previous run wrote."""
    data = write_table(tmp_path / f"in{suffix}", input_rows(40))
    local = tmp_path / "local.parquet"
    predict_file(ruled_classifier, data, local, batch_size=1)
    output = tmp_path / "ray-out"
    output.mkdir()
    (output / MARKER).write_text("an earlier run\n")
    (output / "stale.parquet").write_bytes(b"an earlier run's part")
    predict_on_ray(ruled_classifier, file=data, output=output, **RAY_SETTINGS)
    assert (output / MARKER).is_file() and not (output / "stale.parquet").exists()
    got = pd.read_parquet(output).sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(got, pd.read_parquet(local), check_dtype=False, check_exact=True)


def test_without_ray_the_error_says_what_to_install(
    ruled_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches an ImportError traceback where Ray is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)
    data = write_table(tmp_path / "in.csv", input_rows())
    with pytest.raises(UserError, match=r"pip install 'domaintune\[distributed\]'"):
        predict_on_ray(ruled_classifier, file=data, output=tmp_path / "out", **RAY_SETTINGS)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"output": "{mine}"}, "holds files domaintune did not write"),
        ({"output": "{data}"}, "is a file: --engine ray writes a folder"),
        ({"output": None}, "pass --output FOLDER"),
        ({"file": None}, "pass --file"),
        ({"output_format": "tsv"}, "--engine ray writes parquet, csv, jsonl"),
        ({"workers": 0}, "--workers must be at least 1"),
    ],
)
def test_the_ray_engine_refuses_before_starting_ray(
    ruled_classifier: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: dict,
    message: str,
) -> None:
    """Catches a user's folder emptied to make room for part files, and options checked only
    after a cluster was started."""
    monkeypatch.setitem(sys.modules, "ray", None)
    data = write_table(tmp_path / "in.csv", input_rows())
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    paths = {"mine": mine, "data": data}
    for key in ("output", "file"):
        if isinstance(options.get(key), str):
            options[key] = Path(options[key].format(**paths))
    arguments = {**RAY_SETTINGS, "file": data, "output": tmp_path / "out", **options}
    with pytest.raises(UserError, match=message):
        predict_on_ray(ruled_classifier, **arguments)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_the_cli_takes_the_ray_engine(ruled_classifier: Path, tmp_path: Path) -> None:
    """Catches `--engine ray` not reaching the Ray path from the command line."""
    from tests.helpers import domaintune

    data = write_table(tmp_path / "in.csv", input_rows())
    result = domaintune(
        "predict", str(ruled_classifier), "--file", str(data), "--engine", "ray", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("pass --output FOLDER")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "text_column"), [("utf16_semicolon_csv", "text"), ("nested_jsonl", "meta.body")]
)
def test_ray_reads_exported_files_as_predict_does(
    local_ray: Any, ruled_classifier: Path, tmp_path: Path, kind: str, text_column: str
) -> None:
    """Catches Ray reading a UTF-16 semicolon CSV as bytes in one column, or not reaching a
    nested `meta.body`: its texts and labels are those of `predict` on one machine."""
    data = EXPORTS[kind](tmp_path, exported_rows(30))
    settings = {**RAY_SETTINGS, "text_column": text_column, "keep_columns": ["id"]}
    local = tmp_path / "local.parquet"
    predict_file(
        ruled_classifier, data, local, batch_size=1, text_column=text_column, keep_columns="id"
    )
    output = tmp_path / "ray-out"
    predict_on_ray(ruled_classifier, file=data, output=output, **settings)
    got = pd.read_parquet(output).sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(got, pd.read_parquet(local), check_dtype=False, check_exact=True)


def test_the_ray_engine_sends_a_workbook_to_the_local_engine(
    ruled_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    data = workbook(tmp_path)
    with pytest.raises(
        UserError, match=r"label an Excel workbook or a \.txt file with --engine local"
    ):
        predict_on_ray(ruled_classifier, file=data, output=tmp_path / "out", **RAY_SETTINGS)
