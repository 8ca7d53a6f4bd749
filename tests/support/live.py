"""Real servers for end-to-end tests: uvicorn in a thread, or ``chatkit-backend serve`` in a process."""

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tests.support.environment import subprocess_env

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A subprocess's environment: PATH, HOME and the locale from this process, plus ``env``.

    Nothing else of the developer's shell (``CHATKIT_*``, ``OPENAI_*``, proxies, ...) reaches
    the subprocess: see ``tests.support.environment.subprocess_env``.
    """
    return subprocess_env(env)


def run_cli(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m chatkit_backend ARGS`` to its end in a clean environment, output captured.

    It runs in ``cwd``, by default an empty temporary folder (so no ``./.env`` is read).
    """
    with tempfile.TemporaryDirectory(prefix="chatkit-cli-") as empty:
        return subprocess.run(
            [sys.executable, "-m", "chatkit_backend", *args],
            env=clean_env(env),
            cwd=cwd or empty,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def stop(process: subprocess.Popen[Any]) -> None:
    """Terminate a process if it still runs; kill it if it has not exited after 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(
    base_url: str, timeout: float = 60.0, process: subprocess.Popen[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{base_url} did not become healthy: {last}")


@contextlib.contextmanager
def run_app(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with a real uvicorn on 127.0.0.1 in a thread; yields the base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextlib.contextmanager
def run_serve(
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    cwd: Path | None = None,
    *,
    log: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``chatkit-backend serve`` as a process until healthy; yields (base URL, process).

    Its output goes to ``process.stdout`` (a pipe), or to the file ``log`` when given. It runs
    in ``cwd``, by default an empty temporary folder (so no ``./.env`` is read), with
    ``clean_env(env)``.
    """
    port = free_port()
    full_env = clean_env({"CHATKIT_PORT": str(port), "CHATKIT_HOST": "127.0.0.1", **(env or {})})
    empty = tempfile.TemporaryDirectory(prefix="chatkit-serve-")
    with contextlib.ExitStack() as files:
        output = files.enter_context(log.open("w")) if log is not None else subprocess.PIPE
        process = subprocess.Popen(
            [sys.executable, "-m", "chatkit_backend", "serve", *(args or [])],
            env=full_env,
            cwd=cwd or empty.name,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(base_url, timeout=timeout, process=process)
        except Exception:
            process.kill()
            printed = process.communicate(timeout=5)[0] if log is None else log.read_text()
            raise RuntimeError(f"serve did not start:\n{printed}") from None
        yield base_url, process
    finally:
        stop(process)
        if process.stdout:
            process.stdout.close()
        empty.cleanup()


def sse_event(line: str) -> dict[str, Any] | None:
    """The event of one SSE ``data: {...}`` line; None for any other line."""
    if not line.startswith("data: "):
        return None
    event: dict[str, Any] = json.loads(line[6:])
    return event


def sse_events(body: str) -> list[dict[str, Any]]:
    """Parse an SSE body of ``data: {...}`` lines into event dicts."""
    return [event for line in body.splitlines() if (event := sse_event(line)) is not None]
