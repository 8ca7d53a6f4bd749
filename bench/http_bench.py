"""HTTP benchmark: ``create_app`` against the seed guide's endpoint, in the same run.

Three servers per responder, each its own uvicorn process (one worker, no access log, log
level warning) on a free port, seeded with 20 threads, the offline model at full speed
(``CHATKIT_OFFLINE_TOKEN_DELAY=0``):

- ``baseline``: the seed guide's app (``baseline_app.py``), on ``memory://``;
- ``memory://``: ``create_app`` on ``memory://``;
- ``default``: ``create_app`` on the **default settings**, which is what a user runs:
  SQLite in a fresh data folder (``<data_dir>/chatkit.db``). The load comes from ``wrk`` (``apt-get install wrk``) with a Lua script for the
POST bodies, or, without wrk, from a built-in asyncio generator on raw sockets. On a
machine with two or more cores the server is pinned to one core and the generator to
another, so the generator is not what limits the rate.

It prints the sustained requests/s of ``threads.list`` and of a streaming
``threads.create`` for every server and the ratios the issues ask for (issue 12:
``threads.list`` on default settings at least 10x the guide's app, a streaming
``threads.create`` on default settings at least 0.9x ``memory://``), the server CPU time
per request (the least of the two runs; steadier than requests/s when other work shares
the machine), and each server's resident memory
after warm-up and after each of two identical runs (a leak per request or per stream
shows as growth between them). Before each reading the threads the run created are
deleted, so the store holds the same 20 threads each time.

    .venv/bin/python bench/http_bench.py [--duration 8] [--concurrency 32] [--workloads create]
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

BENCH_DIR = Path(__file__).resolve().parent
SEEDED_THREADS = 20
LIST_BODY = {"type": "threads.list", "params": {"limit": SEEDED_THREADS}}
CREATE_BODY = {
    "type": "threads.create",
    "params": {
        "input": {
            "content": [{"type": "input_text", "text": "hi"}],
            "attachments": [],
            "inference_options": {},
        }
    },
}


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    body: dict[str, object]
    responder: str  # "offline" (the Agents SDK offline model) or "minimal"
    target: float | None  # the ratio the issue asks for


WORKLOADS = [
    Workload("list", "threads.list (20 threads)", LIST_BODY, "offline", 8.0),
    Workload("create", "threads.create (streaming)", CREATE_BODY, "offline", 3.0),
    Workload("create-minimal", "threads.create, minimal responder", CREATE_BODY, "minimal", None),
]
APPS = {  # name -> (factory, BENCH_STORE)
    "baseline": ("baseline_app:create_baseline_app", "memory"),
    "memory://": ("http_bench:create_backend_app", "memory"),
    "default": ("http_bench:create_backend_app", "default"),
}
DEFAULT_TARGETS = {  # issue 12, same run: workload -> (the column compared with, ratio)
    "list": ("baseline", 10.0),
    "create": ("memory://", 0.9),
}


def create_backend_app() -> object:
    """The app under test: ``create_app`` with the same settings and responder as the baseline."""
    sys.path.insert(0, str(BENCH_DIR))
    from baseline_app import bench_responder, bench_settings

    from chatkit_backend.app import create_app
    from chatkit_backend.server import BackendServer
    from chatkit_backend.settings import Settings

    settings = bench_settings()
    if os.environ.get("BENCH_STORE") == "default":
        # What a user runs: SQLite in the data folder (the server's cwd is a fresh temp folder).
        settings = Settings(offline_token_delay=0.0, log_level="WARNING", data_dir=Path("data"))
    if os.environ.get("BENCH_RESPONDER") != "minimal":
        return create_app(settings)  # the defaults: BackendServer with the offline model
    responder = bench_responder(settings)

    def server(store: object, attachment_store: object) -> BackendServer:
        return BackendServer(store, attachment_store, responder=responder)  # type: ignore[arg-type]

    return create_app(settings, server=server)


# -- servers -----------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    rss: list[int] = field(default_factory=list)
    seeded: set[str] = field(default_factory=set)

    def record_rss(self) -> None:
        self.rss.append(psutil.Process(self.process.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system)."""
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    name: str, factory: str, store: str, responder: str, cpu: int | None
) -> Iterator[Server]:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CHATKIT_", "OPENAI_", "BENCH_"))
    }
    env["BENCH_RESPONDER"] = responder
    env["BENCH_STORE"] = store
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as cwd:  # no stray .env, no data folder left behind
        log = Path(cwd) / "server.log"  # the server's own output, shown if it fails
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        server = Server(name, process, f"http://127.0.0.1:{port}")
        try:
            if cpu is not None:
                psutil.Process(process.pid).cpu_affinity([cpu])
            _wait_healthy(server)
            yield server
        except BaseException:
            print(f"--- {name} server output ---\n{log.read_text()[-4000:]}", file=sys.stderr)
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(server: Server, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.process.returncode}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{server.name} did not start")


def seed_and_check(server: Server) -> None:
    """Create the 20 threads, and check both workloads answer what they should."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(SEEDED_THREADS):
            stream = client.post("/chatkit", content=json.dumps(CREATE_BODY))
            assert stream.status_code == 200 and '"assistant_message"' in stream.text, stream.text[
                :500
            ]
        listed = client.post("/chatkit", content=json.dumps(LIST_BODY))
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["data"]) == SEEDED_THREADS
        server.seeded = {thread["id"] for thread in listed.json()["data"]}


async def _delete_created(server: Server, concurrency: int) -> int:
    """Delete every thread but the seeded ones, so each memory reading sees the same store."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        ids: list[str] = []
        after = None
        while True:
            params = {"limit": 1000, "order": "asc", **({"after": after} if after else {})}
            page = (
                await client.post("/chatkit", json={"type": "threads.list", "params": params})
            ).json()
            ids += [thread["id"] for thread in page["data"] if thread["id"] not in server.seeded]
            if not page["has_more"]:
                break
            after = page["after"]
        queue = list(ids)

        async def worker() -> None:
            while queue:
                thread_id = queue.pop()
                body = {"type": "threads.delete", "params": {"thread_id": thread_id}}
                response = await client.post("/chatkit", json=body)
                assert response.status_code == 200, response.text

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(ids)


def settle(server: Server, concurrency: int) -> None:
    """Bring the store back to the 20 seeded threads, then read the resident memory.

    Streaming ``threads.create`` adds a thread per request; without this, the store's
    growth would read as a leak. Freed memory stays with the process, so a leak is growth
    from one settled reading to the next.
    """
    asyncio.run(_delete_created(server, concurrency))
    server.record_rss()


# -- load generators ---------------------------------------------------------------------------------
@dataclass
class Result:
    requests: int
    seconds: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    url: str, body: dict[str, object], duration: float, concurrency: int, cpu: int | None
) -> Result:
    script = (
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{json.dumps(body)}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            handle.name,
            url + "/chatkit",
        ]
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(handle.name)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s|m)\b", output)
    assert total, output
    seconds = float(total.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
    errors = sum(
        int(n)
        for n in re.findall(
            r"(?:Non-2xx or 3xx responses|connect|read|write|timeout):? (\d+)", output
        )
    )
    return Result(int(total.group(1)), seconds, errors)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return status
    length = re.search(rb"content-length: *(\d+)", lowered)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return status


async def _client(port: int, request: bytes, stop_at: float, statuses: Counter[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at:
            writer.write(request)
            statuses[await _read_response(reader)] += 1
    finally:
        writer.close()


async def _asyncio_load(port: int, body: bytes, duration: float, concurrency: int) -> Result:
    request = (
        f"POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    await asyncio.gather(
        *(_client(port, request, started + duration, statuses) for _ in range(concurrency))
    )
    elapsed = time.monotonic() - started
    return Result(
        sum(statuses.values()), elapsed, sum(n for status, n in statuses.items() if status != 200)
    )


def run_asyncio(
    url: str, body: dict[str, object], duration: float, concurrency: int, cpu: int | None
) -> Result:
    port = int(url.rsplit(":", 1)[1])
    try:
        import uvloop

        return uvloop.run(_asyncio_load(port, json.dumps(body).encode(), duration, concurrency))
    except ImportError:
        return asyncio.run(_asyncio_load(port, json.dumps(body).encode(), duration, concurrency))


# -- the run -----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=8.0, help="seconds per measured run (default 8)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="open connections (default 32)")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of warm-up per workload (default 2)"
    )
    parser.add_argument("--generator", choices=["auto", "wrk", "asyncio"], default="auto")
    parser.add_argument(
        "--workloads",
        default=",".join(w.key for w in WORKLOADS),
        help="comma-separated keys (default: all)",
    )
    args = parser.parse_args()
    chosen = set(args.workloads.split(","))
    workloads = [workload for workload in WORKLOADS if workload.key in chosen]

    use_wrk = args.generator == "wrk" or (
        args.generator == "auto" and shutil.which("wrk") is not None
    )
    load = run_wrk if use_wrk else run_asyncio
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[-1], cpus[0]) if len(cpus) >= 2 else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})  # this process and the generator it starts
    generator = (
        f"wrk -t1 -c{args.concurrency}"
        if use_wrk
        else f"asyncio raw sockets, {args.concurrency} connections"
    )
    pinning = (
        f"server pinned to CPU {server_cpu}, load generator to CPU {client_cpu}"
        if server_cpu is not None
        else "no pinning (one CPU)"
    )
    print(
        f"HTTP benchmark: one uvicorn worker per app; {generator}; {pinning}; {args.duration:g}s per run, 2 runs",
        flush=True,
    )

    rates: dict[tuple[str, str], list[float]] = {}
    cpu_per_request: dict[
        tuple[str, str], list[float]
    ] = {}  # server CPU per request: steadier than req/s on a shared machine
    errors = 0
    servers: list[Server] = []
    with ExitStack() as stack:
        started: dict[tuple[str, str], Server] = {}
        for responder in dict.fromkeys(workload.responder for workload in workloads):
            for name, (factory, store) in APPS.items():
                label = name if responder == "offline" else f"{name} (minimal)"
                server = stack.enter_context(running(label, factory, store, responder, server_cpu))
                started[(name, responder)] = server
                servers.append(server)
        for server in servers:
            seed_and_check(server)
        for workload in workloads:
            for name in APPS:
                load(
                    started[(name, workload.responder)].url,
                    workload.body,
                    args.warmup,
                    args.concurrency,
                    client_cpu,
                )
        for server in servers:
            settle(server, args.concurrency)
        for run in (1, 2):
            for workload in workloads:
                for name in APPS:  # interleaved, so drift in the machine's load hits all
                    server = started[(name, workload.responder)]
                    cpu_before = server.cpu_seconds()
                    result = load(
                        server.url, workload.body, args.duration, args.concurrency, client_cpu
                    )
                    cpu_ms = (server.cpu_seconds() - cpu_before) / max(result.requests, 1) * 1000
                    errors += result.errors
                    rates.setdefault((name, workload.key), []).append(result.rate)
                    cpu_per_request.setdefault((name, workload.key), []).append(cpu_ms)
                    print(
                        f"  run {run} {workload.key:<16} {name:<16} {result.rate:9.1f} req/s  {cpu_ms:6.2f} ms CPU/req  ({result.requests} requests, {result.errors} errors)",
                        flush=True,
                    )
            for server in servers:
                settle(server, args.concurrency)

    print_rates(workloads, rates)
    print_cpu(workloads, cpu_per_request)
    print()
    print(
        f"{'resident memory (MB)':<36}{'after warm-up':>16}{'after run 1':>14}{'after run 2':>14}{'run 2 growth':>15}"
    )
    for server in servers:
        warm, first, second = (value / 2**20 for value in server.rss)
        growth = (second - first) / first * 100
        verdict = "ok" if growth <= 5 else "OVER 5%"
        print(
            f"{server.name:<36}{warm:>16.1f}{first:>14.1f}{second:>14.1f}{growth:>14.1f}% {verdict}"
        )
    if errors:
        print(f"\n{errors} failed requests during the runs")


def print_rates(workloads: list[Workload], rates: dict[tuple[str, str], list[float]]) -> None:
    """Requests/s of every server (mean of the two runs), the ratios, and the targets."""
    mean = {key: sum(values) / len(values) for key, values in rates.items()}
    print()
    print(
        f"{'workload (req/s)':<36}{'baseline':>10}{'memory://':>11}{'default':>10}"
        f"{'memory/base':>13}{'default/base':>14}{'default/memory':>16}"
    )
    for workload in workloads:
        base, memory, default = (mean[(name, workload.key)] for name in APPS)
        print(
            f"{workload.label:<36}{base:>10.1f}{memory:>11.1f}{default:>10.1f}"
            f"{memory / base:>12.2f}x{default / base:>13.2f}x{default / memory:>15.2f}x"
        )
    print("\ntargets, same run:")
    for workload in workloads:
        if workload.target:  # issue 3: create_app on memory:// against the guide's app
            ratio = mean[("memory://", workload.key)] / mean[("baseline", workload.key)]
            verdict = "ok" if ratio >= workload.target else "MISSED"
            print(
                f"  {workload.label}: memory:// / baseline = {ratio:.2f}x "
                f"(issue 3 target {workload.target:g}x) {verdict}"
            )
        if workload.key in DEFAULT_TARGETS:  # issue 12: the default settings
            against, target = DEFAULT_TARGETS[workload.key]
            ratio = mean[("default", workload.key)] / mean[(against, workload.key)]
            verdict = "ok" if ratio >= target else "MISSED"
            print(
                f"  {workload.label}: default / {against} = {ratio:.2f}x "
                f"(issue 12 target {target:g}x) {verdict}"
            )


def print_cpu(workloads: list[Workload], cpu: dict[tuple[str, str], list[float]]) -> None:
    """Server CPU per request (the least of the runs) of every server."""
    print()
    print(
        f"{'server CPU per request (ms)':<36}{'baseline':>10}{'memory://':>11}{'default':>10}"
        f"{'base/memory':>13}{'base/default':>14}"
    )
    for workload in workloads:
        base, memory, default = (min(cpu[(name, workload.key)]) for name in APPS)
        print(
            f"{workload.label:<36}{base:>10.2f}{memory:>11.2f}{default:>10.2f}"
            f"{base / memory:>12.2f}x{base / default:>13.2f}x"
        )


if __name__ == "__main__":
    main()
