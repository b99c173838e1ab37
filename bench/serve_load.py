"""Load on `domaintune serve`: N concurrent single-text clients for T seconds, beside the offline
batch throughput of the same backend, measured in the same run.

    .venv/bin/python bench/serve_load.py                        # runs/airline-sentiment, 16 clients, 60 s
    .venv/bin/python bench/serve_load.py runs/NAME --clients 32 --seconds 30 --backend onnx

Steps, in this order, so that the two measures never share the CPU:
1. offline: `Predictor.predict_proba` on the run's test texts at batch 32 (texts sorted by
   length into batches, as `predict` does), in this process, for half of `--offline-seconds`:
   half of that on the main thread, half on a worker thread (GNU OpenMP makes PyTorch's threads
   wait differently in the two; the faster is the reference);
2. the server: `domaintune serve RUN --port 0` in a subprocess, its port read from the line it
   prints; each client keeps one HTTP/1.1 connection and sends one text at a time (`{"text":
   ...}`), the next as soon as the answer is read, cycling through the test texts from its own
   offset. The first `--warmup` seconds are not counted;
3. offline again for the other half, and the two averaged: on a shared machine the load of
   other work changes between the two measures, and so does each.

It prints texts/s, p50 and p99 latency, errors (any answer but a 200 holding one prediction, a
timeout, a dropped connection), the server's mean batch size and how busy its model was over the
measured window (from /health), CPU seconds per text in the server and the clients (Linux), the
offline texts/s and the ratio, and whether the targets of issue 12 are met: zero errors and at
least 70% of the offline batch-32 throughput (exit status 1 when not).

The clients write and read HTTP by hand over asyncio streams, in one thread: on a small machine
the load generator shares the CPU with the server, and a full HTTP client library costs several
times more CPU per request, which would be measured as the server's slowness.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.70
LISTENING = re.compile(r"at (http://\S+?):(\d+)[:/ ]")


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(what)


def test_texts(run: Path, limit: int) -> list[str]:
    import pandas as pd

    path = run / "data" / "test.parquet"
    if not path.is_file():
        sys.exit(f"{path} is missing: give a finished run (domaintune run)")
    texts = pd.read_parquet(path, columns=["text"])["text"].astype(str).tolist()
    return texts[:limit]


def load_predictor(run: Path, backend: str):
    from domaintune.predict import Predictor

    predictor = Predictor(run, backend=backend)
    predictor.predict_proba(["warm-up"] * 64, batch_size=32)  # first calls allocate
    return predictor


def offline_throughput(predictor, texts: list[str], *, seconds: float) -> tuple[float, float]:
    """Texts/s of `Predictor.predict_proba` at batch 32 over `texts`, repeated for `seconds`,
    and the CPU seconds this process spent per text."""
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        predictor.predict_proba(texts, batch_size=32, progress=False)  # no bar: it costs
        done += len(texts)
    return done / (time.perf_counter() - started), (time.process_time() - cpu) / done


def offline_both_ways(predictor, texts: list[str], *, seconds: float) -> dict[str, float]:
    """`offline_throughput` on the main thread (as `domaintune predict` runs) and on a worker
    thread (as the server runs), half the time each: GNU OpenMP makes PyTorch's threads wait
    differently in the two (see `warm_up` in serve/workers.py), which on a busy machine changes the
    figure severalfold. The ratio is taken against the faster of the two."""
    main, main_cpu = offline_throughput(predictor, texts, seconds=seconds / 2)
    with ThreadPoolExecutor(max_workers=1) as worker:
        thread, thread_cpu = worker.submit(
            offline_throughput, predictor, texts, seconds=seconds / 2
        ).result()
    return {"main": main, "thread": thread, "main_cpu": main_cpu, "thread_cpu": thread_cpu}


def drain(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)
        del lines[:-50]


def start_server(
    run: Path, args: argparse.Namespace
) -> tuple[subprocess.Popen, str, int, list[str]]:
    command = [sys.executable, "-c", "from domaintune.cli import main; main()", "serve", str(run)]
    command += ["--port", "0", "--backend", args.backend]
    for option in ("max_batch", "max_wait_ms", "workers"):
        value = getattr(args, option)
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + 300
    assert server.stdout is not None
    seen = []
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = LISTENING.search(line)
        if found and line.startswith("serving"):
            host = found.group(1).removeprefix("http://")
            # keep reading what it prints, so that a full pipe never blocks it
            threading.Thread(target=drain, args=(server.stdout, seen), daemon=True).start()
            return server, host, int(found.group(2)), seen
    server.kill()
    sys.exit("the server did not start:\n" + "".join(seen[-20:]))


async def request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: str, body: bytes
) -> tuple[int, bytes]:
    writer.write(head.encode() % len(body) + body)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    headers = await reader.readuntil(b"\r\n\r\n")
    found = re.search(rb"(?i)content-length:\s*(\d+)", headers)
    if found is None:
        raise ConnectionError("an answer without Content-Length")
    payload = await reader.readexactly(int(found.group(1)))
    return int(status_line.split()[1]), payload


async def http_get(host: str, port: int, path: str) -> dict:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


async def client(
    host: str,
    port: int,
    texts: list[str],
    *,
    offset: int,
    window: tuple[float, float],
    tally: Tally,
    timeout: float,
) -> None:
    loop = asyncio.get_running_loop()
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n\r\n"
    )
    start, stop = window
    connection = None
    index = offset
    while loop.time() < stop:
        body = json.dumps({"text": texts[index % len(texts)]}).encode()
        index += 1
        sent = loop.time()
        try:
            if connection is None:
                connection = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            status, payload = await asyncio.wait_for(request(*connection, head, body), timeout)
            answer = json.loads(payload)
            ok = status == 200 and len(answer.get("predictions", ())) == 1
            problem = "" if ok else f"{status}: {payload[:200]!r}"
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            ok, problem = False, f"{type(error).__name__}: {error}"
            if connection is not None:
                connection[1].close()
            connection = None
        done = loop.time()
        if start <= done <= stop:
            if ok:
                tally.latencies.append(done - sent)
            else:
                tally.error(problem)
    if connection is not None:
        connection[1].close()


async def load(
    host: str, port: int, texts: list[str], args: argparse.Namespace
) -> tuple[Tally, dict, dict, float]:
    loop = asyncio.get_running_loop()
    tally = Tally()
    start = loop.time() + args.warmup
    stop = start + args.seconds
    step = max(1, len(texts) // args.clients)
    clients = [
        client(
            host,
            port,
            texts,
            offset=i * step,
            window=(start, stop),
            tally=tally,
            timeout=args.timeout,
        )
        for i in range(args.clients)
    ]

    async def counts_at(moment: float) -> dict:
        await asyncio.sleep(max(0.0, moment - loop.time()))
        health = await http_get(host, port, "/health")
        return health | {
            "server_cpu": cpu_seconds(args.server_pid),
            "client_cpu": time.process_time(),
        }

    before, after, *_ = await asyncio.gather(counts_at(start), counts_at(stop - 0.01), *clients)
    return tally, before, after, stop - start


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time so far of a process and the processes it started (Linux): the
    server runs PyTorch's copies of the model in processes of their own."""
    stats = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        stats[int(path.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    if pid not in stats:
        return None
    tree, found = {pid}, {pid}
    while found:  # the children of what was found, until there are none
        found = {each for each, (parent, _) in stats.items() if parent in found}
        tree |= found
    return sum(stats[each][1] for each in tree) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", default="runs/airline-sentiment", type=Path)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--offline-seconds", type=float, default=20.0, help="half before the load, half after"
    )
    parser.add_argument("--texts", type=int, default=1000, help="test texts used (default 1000)")
    parser.add_argument(
        "--backend",
        default="auto",
        help="auto, torch, torch-fp32, torch-bf16 or onnx (default auto)",
    )
    parser.add_argument("--max-batch", type=int, default=None, help="the server's (config default)")
    parser.add_argument(
        "--max-wait-ms", type=float, default=None, help="the server's (config default)"
    )
    parser.add_argument("--workers", type=int, default=None, help="the server's (config default)")
    parser.add_argument(
        "--threads", type=int, default=None, help="compute threads of both (default: torch's)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one request may take")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))

    if args.threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the server's, and this process's
        import torch

        torch.set_num_threads(args.threads)
    texts = test_texts(args.run, args.texts)
    print(
        f"{len(texts)} test texts of {args.run}; load average {os.getloadavg()[0]:.2f}", flush=True
    )
    predictor = load_predictor(args.run, args.backend)
    before_load = offline_both_ways(predictor, texts, seconds=args.offline_seconds / 2)
    print(
        f"offline: {before_load['main']:.1f} texts/s at batch 32 on the main thread, "
        f"{before_load['thread']:.1f} on a worker thread ({predictor.backend.name})",
        flush=True,
    )

    server, host, port, printed = start_server(args.run, args)
    args.server_pid = server.pid
    try:
        print(
            f"server at {host}:{port}; {args.clients} clients for {args.seconds:g} s after {args.warmup:g} s warm-up",
            flush=True,
        )
        tally, before, after, measured = asyncio.run(load(host, port, texts, args))
    finally:
        server.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)
        if server.poll() is None:
            server.kill()

    after_load = offline_both_ways(predictor, texts, seconds=args.offline_seconds / 2)
    offline_by = {key: (before_load[key] + after_load[key]) / 2 for key in ("main", "thread")}
    offline = max(offline_by.values())
    faster = max(offline_by, key=offline_by.get)
    offline_cpu = (before_load[f"{faster}_cpu"] + after_load[f"{faster}_cpu"]) / 2
    throughput = len(tally.latencies) / measured
    batches = after["batches"] - before["batches"]
    mean_batch = (after["texts"] - before["texts"]) / batches if batches else 0.0
    ratio = throughput / offline
    passed = tally.errors == 0 and ratio >= TARGET_RATIO
    load_average = os.getloadavg()
    served = max(1, after["texts"] - before["texts"])
    busy = (after["busy_seconds"] - before["busy_seconds"]) / measured / after["workers"]
    client_cpu = (after["client_cpu"] - before["client_cpu"]) / served
    server_cpu = (
        (after["server_cpu"] - before["server_cpu"]) / served
        if after["server_cpu"] is not None
        else float("nan")
    )
    print(
        f"\nserver ({after['backend']}), {args.clients} single-text clients, {measured:g} s:\n"
        f"  throughput      {throughput:8.1f} texts/s\n"
        f"  latency p50     {1000 * percentile(tally.latencies, 0.50):8.1f} ms\n"
        f"  latency p99     {1000 * percentile(tally.latencies, 0.99):8.1f} ms\n"
        f"  errors          {tally.errors:8d}\n"
        f"  mean batch      {mean_batch:8.1f} texts ({batches} batches)\n"
        f"  model busy      {busy:8.0%} of the time ({after['workers']} workers)\n"
        f"  CPU per text    {1000 * server_cpu:8.1f} ms in the server, "
        f"{1000 * client_cpu:.1f} ms in the clients\n"
        f"offline batch 32  {offline:8.1f} texts/s (the faster: main thread "
        f"{offline_by['main']:.1f}, worker thread {offline_by['thread']:.1f}; before the load "
        f"{max(before_load['main'], before_load['thread']):.1f}, after "
        f"{max(after_load['main'], after_load['thread']):.1f}); CPU per text "
        f"{1000 * offline_cpu:.1f} ms\n"
        f"ratio             {ratio:8.2f} (target >= {TARGET_RATIO:.2f}, zero errors): "
        f"{'met' if passed else 'NOT met'}\n"
        f"load average      {load_average[0]:.2f} {load_average[1]:.2f} {load_average[2]:.2f}"
    )
    if after["backend"] != predictor.backend.name:
        print(f"  warning: the server ran {after['backend']}, offline {predictor.backend.name}")
    for problem in tally.first_errors:
        print(f"  error: {problem}")
    if tally.errors:
        print("the server's last lines:\n" + "".join(printed[-20:]))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
