"""Real servers for end-to-end tests: uvicorn in a thread, or ``chatkit-backend serve`` in a process."""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(base_url: str, timeout: float = 20.0, process: subprocess.Popen[Any] | None = None) -> None:
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
    env: dict[str, str] | None = None, args: list[str] | None = None, cwd: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``chatkit-backend serve`` as a process; yields (base URL, process)."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATKIT_", "OPENAI_"))}
    full_env.update({"CHATKIT_PORT": str(port), "CHATKIT_HOST": "127.0.0.1", **(env or {})})
    process = subprocess.Popen(
        [sys.executable, "-m", "chatkit_backend", "serve", *(args or [])],
        env=full_env,
        cwd=cwd or REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(base_url, process=process)
        except Exception:
            process.kill()
            output = process.communicate(timeout=5)[0]
            raise RuntimeError(f"serve did not start:\n{output}") from None
        yield base_url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()


def sse_events(body: str) -> list[dict[str, Any]]:
    """Parse an SSE body of ``data: {...}`` lines into event dicts."""
    import json

    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
