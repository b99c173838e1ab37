"""`domaintune serve` as a user runs it: a real uvicorn server in a subprocess, and its errors."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from domaintune.rundir import RunDir

COMMAND = [sys.executable, "-c", "from domaintune.cli import main; main()", "serve"]


def first_line_with(process: subprocess.Popen, prefix: str, *, timeout: float) -> str:
    """The first line of the process's stdout starting with `prefix`; fails after `timeout`."""
    found: list[str] = []

    def read() -> None:
        for line in process.stdout:
            if line.startswith(prefix):
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found, f"no line starting with {prefix!r} within {timeout} s"
    return found[0]


@pytest.mark.slow
def test_serve_listens_where_it_says_answers_and_stops_on_ctrl_c(
    run_copy: RunDir, tmp_path: Path
) -> None:
    """Catches a printed address that is not the one served (port 0 must print the real port),
    a server that does not answer over real HTTP, settings not taken in order (the run's
    config.yaml, then --set, then the options), or a server that a Ctrl+C leaves running, or
    kills with a traceback, or whose model processes it leaves running."""
    run_copy.config.write_text(
        "task: {name: tickets}\nserve: {max_texts: 7, max_wait_ms: 9, max_batch: 3}\n"
    )
    process = subprocess.Popen(
        [
            *COMMAND,
            str(run_copy.root),
            "--port",
            "0",
            "--set",
            "serve.max_wait_ms=3",
            "--set",
            "serve.max_batch=5",
            "--max-batch",
            "4",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = first_line_with(process, "serving", timeout=180)
        url = line.split(" at ", 1)[1].split(": the page", 1)[0]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0"), line
        request = urllib.request.Request(
            f"{url}/predict",
            data=json.dumps({"texts": ["thanks", "late"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            predictions = json.load(answer)["predictions"]
        with urllib.request.urlopen(f"{url}/metadata", timeout=60) as answer:
            limits = json.load(answer)["limits"]
        started = children(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert [p["label"] for p in predictions] and len(predictions) == 2
    assert (limits["max_texts"], limits["max_wait_ms"], limits["max_batch"]) == (7, 3, 4)
    assert process.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    assert not [pid for pid in started if running(pid)]


def running(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has: it waits to be reaped by
    init, which in a container may never come)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    """The processes `pid` started to run the model (Linux; none elsewhere), not
    multiprocessing's resource tracker, which ends by itself once its parent has."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
            if parent == pid and b"resource_tracker" not in command:
                found.append(int(stat.parent.name))
    return found


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_a_port_in_use_is_one_error_line_before_the_model_loads(
    served_run: RunDir, tmp_path: Path
) -> None:
    """Catches uvicorn's traceback (or a minute of model loading first) when the port is taken."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, str(served_run.root), "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2
    assert error_lines(result) == [
        next(line for line in error_lines(result) if f"cannot listen on 127.0.0.1:{port}" in line)
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-batch", "0"], "--max-batch"),
        (["--port", "70000"], "--port"),
        (["--backend", "tensorrt"], "choose auto, torch, torch-fp32, torch-bf16, onnx"),
        (["--set", "serve.max_wait_ms=-1"], "serve.max_wait_ms"),
    ],
)
def test_a_bad_setting_is_one_error_line(
    served_run: RunDir, tmp_path: Path, args: list[str], says: str
) -> None:
    """Catches a bad option reaching uvicorn or the model as a traceback."""
    result = subprocess.run(
        [*COMMAND, str(served_run.root), "--port", "0", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], lines


def test_a_folder_without_a_model_is_one_error_line(tmp_path: Path) -> None:
    """Catches a server started on a folder with no model (a typo'd run name)."""
    result = subprocess.run(
        [*COMMAND, str(tmp_path / "runs" / "nope"), "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "is not a model folder nor a run directory" in lines[0], lines
