"""Server CPU per streamed reply through a real model path, against the guide's app and a floor.

Every server runs in a process of its own, as a user runs it: the tests' fake
OpenAI-compatible server (``tests/fakes/openai_server.py``, replying with as many word
deltas as the user message's last word asks, no delay between them, usage in the last
chunk) and ``chatkit-backend serve`` with ``CHATKIT_*`` settings in its environment. The
client sends sequential ``threads.create`` requests and reads every event. The fake model
server keeps its connections alive between requests, as real model servers do
(``--close-connections``: one TCP connection per model request, the fake's default).

Configurations: Chat Completions (``openai-compatible:``) and Responses (``openai:``)
models, each on ``memory://`` and on the default SQLite file; in the same run, the guide's
app (``baseline_app.py``, ``BENCH_RESPONDER=deltas``: the same number of deltas, no model)
and a bare Starlette SSE endpoint sending events of the same shape (the floor).

Printed, per configuration and reply size N (50, 300, 1000 deltas): the server process's
CPU per reply (its own ``user+system`` time over the requests), per delta (that over N),
wall time per reply, and the time to first delta minus the model's own time to first
delta (measured on the fake server directly); then the marginal CPU per delta and the
fixed CPU per reply (least squares over N), the ratio to the guide's app, and the fixed
cost split into its parts (measured in-process, ``--breakdown``).

    .venv/bin/python bench/stream_cost.py [--replies 20] [--sizes 50,300,1000] [--configs ...]
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("chatkit-backend"))

FAKE_SERVER = """
import asyncio, signal, sys
sys.path.insert(0, {repo!r})
try:
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
except ImportError:
    pass
from tests.fakes.openai_server import FakeOpenAIServer, Reply

def words(body):
    text = ""
    for message in body.get("messages") or body.get("input") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    last = text.split()[-1] if text.split() else ""
    return " ".join(["word"] * int(last)) if last.isdigit() else "word"

server = FakeOpenAIServer(
    Reply(answer=words, token_interval={interval}), keep_alive={keep_alive}
).start()
print(server.url, flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
server.stop()
"""


def floor_app() -> object:
    """The floor: a bare Starlette endpoint streaming N delta events of ChatKit's shape."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    delta = (
        b'data: {"type":"thread.item.updated","item_id":"msg_0123456789abcdef",'
        b'"update":{"type":"assistant_message.content_part.text_delta","content_index":0,'
        b'"delta":"word "}}\n\n'
    )

    async def chatkit(request: Request) -> Response:
        body = json.loads(await request.body())
        text = body["params"]["input"]["content"][0]["text"]
        count = int(text.split()[-1])

        async def events() -> "asyncio.AsyncIterator[bytes]":  # type: ignore[name-defined]
            for _ in range(count):
                yield delta

        return StreamingResponse(events(), media_type="text/event-stream")

    async def healthz(request: Request) -> Response:
        return Response("ok")

    return Starlette(
        routes=[Route("/chatkit", chatkit, methods=["POST"]), Route("/healthz", healthz)]
    )


@dataclass
class Config:
    key: str
    label: str
    kind: str  # "backend", "guide", "floor"
    model: str | None = None  # CHATKIT_MODEL
    store: str = "memory"  # "memory" or "sqlite"


CONFIGS = [
    Config("chat-memory", "chatkit-backend, Chat Completions, memory://", "backend", "openai-compatible:bench", "memory"),
    Config("responses-memory", "chatkit-backend, Responses, memory://", "backend", "openai:bench", "memory"),
    Config("chat-sqlite", "chatkit-backend, Chat Completions, SQLite", "backend", "openai-compatible:bench", "sqlite"),
    Config("responses-sqlite", "chatkit-backend, Responses, SQLite", "backend", "openai:bench", "sqlite"),
    Config("guide", "guide's app, N deltas, no model", "guide"),
    Config("floor", "bare Starlette SSE (floor)", "floor"),
]  # fmt: skip


@dataclass
class Reading:
    cpu_ms: float
    wall_ms: float
    first_delta_ms: float
    deltas_seen: int
    text_ok: bool


@dataclass
class Result:
    config: Config
    readings: dict[int, Reading] = field(default_factory=dict)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    keep = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL") if name in os.environ
    }
    return {**keep, **extra}


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def fake_model_server(
    interval: float = 0.0, cpu: str | None = None, keep_alive: bool = True
) -> Iterator[str]:
    """The fake model server in a process of its own; its ``/v1`` URL. ``keep_alive``: it
    keeps connections open between requests, as real model servers do."""
    script = FAKE_SERVER.format(repo=str(REPO), interval=interval, keep_alive=keep_alive)
    command = [PYTHON, "-c", script]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=clean_env({}))
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        if not url:
            raise RuntimeError("fake model server did not start")
        yield url
    finally:
        stop(process)


@contextmanager
def app_server(
    config: Config, model_url: str, data_dir: Path, cpu: str | None = None
) -> Iterator[tuple[str, int]]:
    """Start ``config``'s server; yields its base URL and the pid doing the work."""
    port = free_port()
    prefix = ["taskset", "-c", cpu] if cpu is not None else []
    if config.kind == "backend":
        env = {
            "CHATKIT_PORT": str(port),
            "CHATKIT_MODEL": config.model or "",
            "CHATKIT_MODEL_BASE_URL": model_url,
            "CHATKIT_DATA_DIR": str(data_dir),
            "CHATKIT_LOG_LEVEL": "WARNING",
        }
        if config.store == "memory":
            env["CHATKIT_DATABASE_URL"] = "memory://"
        command = [*prefix, CLI, "serve"]
    else:
        env = {"BENCH_RESPONDER": "deltas"}
        factory = (
            "baseline_app:create_baseline_app"
            if config.kind == "guide"
            else "stream_cost:floor_app"
        )
        command = [*prefix, PYTHON, "-m", "uvicorn", "--factory", "--app-dir", str(BENCH_DIR), factory,
                   "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    process = subprocess.Popen(command, env=clean_env(env), cwd=data_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield base, process.pid
    finally:
        stop(process)


def create_body(deltas: int) -> dict[str, object]:
    return {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [{"type": "input_text", "text": f"deltas {deltas}"}],
                "attachments": [],
                "inference_options": {},
            }
        },
    }


def one_reply(client: httpx.Client, url: str, deltas: int) -> tuple[float, float, int, str]:
    """(wall seconds, seconds to the first delta, delta events seen, text) of one reply."""
    started = time.perf_counter()
    first = 0.0
    events = 0
    parts: list[str] = []
    with client.stream("POST", url + "/chatkit", json=create_body(deltas)) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            update = event.get("update") or {}
            if event.get("type") == "thread.item.updated" and update.get("type", "").endswith(
                "text_delta"
            ):
                if not events:
                    first = time.perf_counter() - started
                events += 1
                parts.append(update["delta"])
    return time.perf_counter() - started, first, events, "".join(parts)


def model_first_delta(model_url: str, api: str, deltas: int, replies: int) -> float:
    """The fake model's own median time to its first delta, read directly (seconds)."""
    if api == "chat":
        path, body = (
            "/chat/completions",
            {
                "model": "bench",
                "stream": True,
                "messages": [{"role": "user", "content": f"deltas {deltas}"}],
            },
        )
    else:
        path, body = "/responses", {"model": "bench", "stream": True, "input": [{"role": "user", "content": f"deltas {deltas}"}]}  # fmt: skip
    marker = b'"content": "word' if api == "chat" else b"output_text.delta"
    times = []
    with httpx.Client(timeout=60) as client:
        for _ in range(replies):
            started = time.perf_counter()
            with client.stream("POST", model_url + path, json=body) as response:
                for chunk in response.iter_raw():
                    if marker in chunk:
                        times.append(time.perf_counter() - started)
                        break
    return statistics.median(times)


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure(config: Config, model_url: str, sizes: list[int], replies: int) -> Result:
    result = Result(config)
    with (
        tempfile.TemporaryDirectory(prefix="stream-cost-") as folder,
        app_server(config, model_url, Path(folder)) as (base, pid),
    ):
        with httpx.Client(timeout=120) as client:
            for _ in range(5):  # warm up: imports, schemas, connections
                one_reply(client, base, sizes[0])
            for size in sizes:
                walls, firsts, seen, ok = [], [], 0, True
                cpu_before = cpu_seconds(pid)
                for _ in range(replies):
                    wall, first, events, text = one_reply(client, base, size)
                    walls.append(wall)
                    firsts.append(first)
                    seen = events
                    ok = ok and text.split() == ["word"] * size
                cpu = (cpu_seconds(pid) - cpu_before) / replies
                result.readings[size] = Reading(
                    cpu * 1000,
                    statistics.median(walls) * 1000,
                    statistics.median(firsts) * 1000,
                    seen,
                    ok,
                )
    return result


def fit(points: dict[int, float]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of CPU ms against N."""
    xs, ys = list(points), list(points.values())
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    return slope, mean_y - slope * mean_x


def print_results(
    results: list[Result], model_ttfd: dict[tuple[str, int], float], sizes: list[int]
) -> None:
    print("\n## CPU per reply (server process), sequential threads.create\n")
    print(
        "| configuration | N | CPU/reply ms | CPU/delta µs | wall/reply ms | first delta minus model's ms | delta events | text ok |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        api = "chat" if "Chat" in result.config.label else "responses"
        for size, reading in result.readings.items():
            model = (
                model_ttfd.get((api, size), 0.0) * 1000 if result.config.kind == "backend" else 0.0
            )
            print(
                f"| {result.config.label} | {size} | {reading.cpu_ms:.1f} | {reading.cpu_ms / size * 1000:.0f} | "
                f"{reading.wall_ms:.1f} | {reading.first_delta_ms - model:.1f} | {reading.deltas_seen} | {'yes' if reading.text_ok else 'NO'} |"
            )
    guide = next((r for r in results if r.config.kind == "guide"), None)
    print("\n## Marginal and fixed CPU (least squares over N), ratio to the guide's app\n")
    print(
        "| configuration | marginal µs/delta | fixed ms/reply | CPU/delta at N=300 µs | ratio to guide (N=300) |"
    )
    print("|---|---|---|---|---|")
    for result in results:
        points = {size: reading.cpu_ms for size, reading in result.readings.items()}
        slope, intercept = fit(points) if len(points) > 1 else (float("nan"), float("nan"))
        at = 300 if 300 in points else sizes[len(sizes) // 2]
        per_delta = points[at] / at * 1000
        ratio = ""
        if guide is not None and at in guide.readings:
            ratio = f"{points[at] / guide.readings[at].cpu_ms:.2f}x"
        print(
            f"| {result.config.label} | {slope * 1000:.1f} | {intercept:.2f} | {per_delta:.0f} | {ratio} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--replies", type=int, default=20, help="replies per configuration and size"
    )
    parser.add_argument("--sizes", default="50,300,1000", help="deltas per reply, comma-separated")
    parser.add_argument("--configs", default=",".join(config.key for config in CONFIGS))
    parser.add_argument("--no-breakdown", action="store_true", help="skip the fixed-cost breakdown")
    parser.add_argument(
        "--close-connections",
        action="store_true",
        help="the fake model server closes each connection (a TCP connection per model request)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    chosen = [config for config in CONFIGS if config.key in args.configs.split(",")]
    keep_alive = not args.close_connections
    print(f"stream_cost: {len(chosen)} configurations, N = {sizes}, {args.replies} replies each; "
          f"{psutil.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; the fake model "
          f"server {'keeps connections alive' if keep_alive else 'closes each connection'}")  # fmt: skip
    results = []
    with ExitStack() as stack:
        model_url = stack.enter_context(fake_model_server(keep_alive=keep_alive))
        model_ttfd = {
            (api, size): model_first_delta(model_url, api, size, 5)
            for api in ("chat", "responses")
            for size in sizes
        }
        for config in chosen:
            started = time.monotonic()
            results.append(measure(config, model_url, sizes, args.replies))
            print(f"  measured {config.label} in {time.monotonic() - started:.0f} s", flush=True)
        print_results(results, model_ttfd, sizes)
        if not args.no_breakdown:
            print("\n## Fixed cost per reply, by part (in-process, memory:// unless named)\n")
            subprocess.run(
                [PYTHON, str(BENCH_DIR / "stream_fixed_cost.py"), "--model-url", model_url],
                check=False,
            )


if __name__ == "__main__":
    main()
