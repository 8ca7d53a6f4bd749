"""Concurrent streams at model pace: how many one worker on one core carries.

``chatkit-backend serve`` (one worker, Chat Completions model, settings in its
environment) runs pinned to one core with ``taskset``; the tests' fake model server and
this load generator run pinned to another. C clients (C = 100, 300, 1000 by default) each
start a ``threads.create`` whose reply is 200 deltas sent at model pace (20 deltas/s,
on a fixed schedule); the starts are spread over one reply's length (10 s), the start rate
of C streams kept going.

Printed per C: deltas delivered per second, p50 and p99 of the gap between consecutive
deltas as each client sees them (a read carrying several deltas counts its deltas as
arriving together: one gap per read, the stricter count), p99 time to first delta, the server's resident memory at the end of
the run, whether every reply arrived whole, and the server's CPU (its share of the run's
wall time, and per stream: start, 200 deltas, title); then the largest C whose p99 gap
stays at or under 150 ms.

    .venv/bin/python bench/stream_load.py [--streams 100,300,500,1000] [--deltas 200] [--rate 20]
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stream_cost import CONFIGS, app_server, create_body, fake_model_server

GAP_LIMIT_MS = 150.0
DELTA_MARKER = b'"assistant_message.content_part.text_delta"'
WORD = b"word"


@dataclass
class Client:
    started: float = 0.0
    first: float | None = None
    last: float | None = None
    gaps: list[float] = field(default_factory=list)
    words: int = 0
    complete: bool = False
    error: str | None = None


async def one_stream(port: int, deltas: int, client: Client, delay: float) -> None:
    """One raw HTTP/1.1 stream: timestamps of every read that carries deltas."""
    await asyncio.sleep(delay)
    body = json.dumps(create_body(deltas)).encode()
    request = (
        b"POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    except OSError as exc:
        client.error = f"connect: {exc}"
        return
    client.started = time.perf_counter()
    writer.write(request)
    pending = b""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            now = time.perf_counter()
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            words = 0
            for line in lines:
                if DELTA_MARKER in line:
                    words += line.count(WORD)
                elif b'"thread.item.done"' in line and b'"assistant_message"' in line:
                    client.complete = True
            if words:
                if client.first is None:
                    client.first = now - client.started
                elif client.last is not None:
                    client.gaps.append(now - client.last)
                client.last = now
                client.words += words
    except OSError as exc:
        client.error = f"read: {exc}"
    finally:
        writer.close()


@dataclass
class Outcome:
    streams: int
    seconds: float
    deltas_per_second: float
    gap_p50_ms: float
    gap_p99_ms: float
    first_p99_ms: float
    rss_mb: float
    complete: int
    errors: int
    cpu_share: float
    """The server's CPU time over the run's wall time (1.0: its core fully busy)."""
    cpu_per_stream_ms: float


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run_load(port: int, pid: int, streams: int, deltas: int, ramp: float) -> Outcome:
    clients = [Client() for _ in range(streams)]
    server = psutil.Process(pid)
    cpu_before = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    await asyncio.gather(
        *(
            one_stream(port, deltas, client, ramp * index / streams)
            for index, client in enumerate(clients)
        )
    )
    seconds = time.perf_counter() - started
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    gaps = [gap * 1000 for client in clients for gap in client.gaps]
    firsts = [client.first * 1000 for client in clients if client.first is not None]
    rss = psutil.Process(pid).memory_info().rss / 1e6
    delivered = sum(client.words for client in clients)
    return Outcome(
        streams=streams,
        seconds=seconds,
        deltas_per_second=delivered / seconds,
        gap_p50_ms=percentile(gaps, 0.50),
        gap_p99_ms=percentile(gaps, 0.99),
        first_p99_ms=percentile(firsts, 0.99),
        rss_mb=rss,
        complete=sum(client.complete and client.words == deltas for client in clients),
        errors=sum(client.error is not None for client in clients),
        cpu_share=cpu / seconds,
        cpu_per_stream_ms=cpu / streams * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--streams", default="100,300,500,1000", help="concurrent streams, comma-separated"
    )
    parser.add_argument("--deltas", type=int, default=200, help="deltas per reply")
    parser.add_argument("--rate", type=float, default=20.0, help="deltas per second per stream")
    parser.add_argument(
        "--config", default="chat-memory", help="a stream_cost.py configuration key"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=None,
        help="seconds over which the streams start (default: one reply's length, deltas/rate: "
        "the start rate of C streams kept going)",
    )
    args = parser.parse_args()
    ramp = args.ramp if args.ramp is not None else args.deltas / args.rate
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, other_cpu = (str(cpus[0]), str(cpus[1])) if len(cpus) > 1 else (None, None)
    if other_cpu is not None:
        os.sched_setaffinity(0, {int(other_cpu)})  # the load generator shares the model's core
    config = next(config for config in CONFIGS if config.key == args.config)
    print(
        f"stream_load: {config.label}; {args.deltas} deltas at {args.rate:g}/s per stream; "
        f"server on CPU {server_cpu}, fake model (connections kept alive) and load on CPU "
        f"{other_cpu}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "\n| streams | deltas/s delivered | gap p50 ms | gap p99 ms | first delta p99 ms | server RSS MB | whole replies | errors | server CPU busy | server CPU ms/stream |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    best = 0
    with (
        fake_model_server(interval=1.0 / args.rate, cpu=other_cpu) as model_url,
        tempfile.TemporaryDirectory(prefix="stream-load-") as folder,
        app_server(config, model_url, Path(folder), cpu=server_cpu) as (base, pid),
    ):
        port = int(base.rsplit(":", 1)[1])
        asyncio.run(run_load(port, pid, 10, 5, 0.1))  # warm up
        for streams in [int(count) for count in args.streams.split(",")]:
            outcome = asyncio.run(run_load(port, pid, streams, args.deltas, ramp))
            print(
                f"| {streams} | {outcome.deltas_per_second:.0f} | {outcome.gap_p50_ms:.1f} | "
                f"{outcome.gap_p99_ms:.1f} | {outcome.first_p99_ms:.1f} | {outcome.rss_mb:.0f} | "
                f"{outcome.complete}/{streams} | {outcome.errors} | {outcome.cpu_share:.0%} | "
                f"{outcome.cpu_per_stream_ms:.1f} |",
                flush=True,
            )
            if outcome.gap_p99_ms <= GAP_LIMIT_MS and outcome.complete == streams:
                best = max(best, streams)
    print(
        f"\nLargest C with p99 gap <= {GAP_LIMIT_MS:.0f} ms and every reply whole: {best or 'none'}"
    )


if __name__ == "__main__":
    main()
