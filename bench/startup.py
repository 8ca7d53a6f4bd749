"""Start-up benchmark: what the hot-reload loop waits for.

Everything runs in fresh processes (``python -X importtime``, ``chatkit-backend serve``)
with a clean environment (no ``CHATKIT_*``/``OPENAI_*`` variable, an empty working folder,
so the **default settings**: SQLite in ``./data``, the offline model). It prints:

1. the import time of each top-level dependency alone, and of our own entry points
   (the median of ``--runs`` fresh interpreters; ``-X importtime``'s cumulative time of
   the module, so the interpreter's own start is not counted);
2. ``chatkit_backend.app`` after ``chatkit.server``: what our package adds on top of the
   SDK (the target: at most 0.3 s), and the same for ``chatkit_backend.cli.main``;
3. which heavy modules a default start imports (``create_app()`` and its lifespan);
4. the time from launching ``chatkit-backend serve`` to its first ``/healthz`` answer,
   on a new data folder (the schema is created) and on an existing one;
5. with ``--reload``: the time from changing a ``.py`` file to the new worker answering,
   split into the file watcher's delay and the new worker's own start (spawn, imports,
   app, lifespan).

    .venv/bin/python bench/startup.py [--runs 5] [--skip-serve]

Figures depend on the machine's load: run it on a quiet machine, and read 2 (our share)
and 3 (what is imported) before the absolute times.
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent
TARGET_OVER_SDK = 0.3

DEPENDENCIES = [
    "chatkit.server",
    "agents",
    "openai",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "pydantic_settings",
    "httpx",
    "sqlalchemy",
    "sqlalchemy.ext.asyncio",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "typer",
    "rich",
    "prometheus_client",
    "jwt",
    "cryptography.hazmat.primitives.serialization",
    "redis.asyncio",
    "multipart",
]
OURS = [
    "chatkit_backend",
    "chatkit_backend.settings",
    "chatkit_backend.client",
    "chatkit_backend.cli.main",
    "chatkit_backend.cli.serve",
    "chatkit_backend.app",
]
HEAVY = [
    "agents",
    "openai",
    "fastapi",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "mako",
    "redis",
    "jwt",
    "cryptography",
    "rich",
    "typer",
    "prometheus_client",
    "multipart",
    "mcp",
    "chatkit_backend.cli",
    "chatkit_backend.client",
    "chatkit_backend.routes.console",
]
DEFAULT_START = """
import asyncio
from chatkit_backend.app import create_app

async def start():
    app = create_app()
    async with app.router.lifespan_context(app):
        pass

asyncio.run(start())
"""


def clean_env(**extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- imports ---------------------------------------------------------------------------------------
def import_seconds(statement: str, module: str, folder: Path) -> float:
    """The cumulative import time of ``module`` when ``statement`` runs in a fresh interpreter."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", statement],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(done.stderr.splitlines()):
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[2].strip() == module:
            return int(parts[1]) / 1e6
    return 0.0  # imported already by an earlier statement


def median_import(statement: str, module: str, runs: int, folder: Path) -> float:
    return statistics.median(import_seconds(statement, module, folder) for _ in range(runs))


def is_loaded(name: str, modules: set[str]) -> bool:
    return any(module == name or module.startswith(f"{name}.") for module in modules)


def modules_after(code: str, folder: Path) -> set[str]:
    """``sys.modules`` after ``code`` runs in a fresh interpreter in ``folder``."""
    done = subprocess.run(
        [PYTHON, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


# -- serve -----------------------------------------------------------------------------------------
@contextmanager
def serving(folder: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """``chatkit-backend serve ARGS`` in ``folder``; yields the process, its URL and its output."""
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "chatkit-backend"), "serve", *args],
        cwd=folder,
        env=clean_env(CHATKIT_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(f"{time.perf_counter():.6f} {line.rstrip()}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield process, f"http://127.0.0.1:{port}", lines
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)


def wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 120.0) -> float:
    """The moment ``/healthz`` first answers 200 (``time.perf_counter``)."""
    deadline = time.perf_counter() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}")
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return time.perf_counter()
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise TimeoutError(f"{url}/healthz did not answer in {timeout:.0f} s")


def first_healthz(folder: Path) -> float:
    started = time.perf_counter()
    with serving(folder) as (process, url, _):
        return wait_healthy(url, process) - started


def line_time(lines: list[str], pattern: str, after: float) -> float | None:
    for line in list(lines):
        stamp, _, text = line.partition(" ")
        if float(stamp) > after and re.search(pattern, text):
            return float(stamp)
    return None


def reload_restart(folder: Path, timeout: float = 120.0) -> tuple[float, float, float]:
    """After a ``.py`` file changes: (change to the watcher's notice, notice to the new
    worker's "startup complete", change to the new worker's first ``/healthz``)."""
    watched = folder / "watched.py"
    watched.write_text("x = 0\n")
    with serving(folder, "--reload") as (process, url, lines):
        wait_healthy(url, process)
        time.sleep(1.0)  # let the watcher settle
        touched = time.perf_counter()
        watched.write_text("x = 1\n")
        deadline = touched + timeout
        while time.perf_counter() < deadline:
            ready = line_time(lines, r"Application startup complete", touched)
            if ready is not None:
                answered = wait_healthy(url, process)
                noticed = line_time(lines, r"detected changes|Reloading", touched) or touched
                return noticed - touched, ready - noticed, answered - touched
            time.sleep(0.01)
        raise TimeoutError("no restart after the change:\n" + "\n".join(lines[-20:]))


# -- report ----------------------------------------------------------------------------------------
def table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    sys.stdout.flush()  # each table as soon as it is measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure")
    parser.add_argument("--skip-serve", action="store_true", help="imports only")
    options = parser.parse_args()
    runs = options.runs
    folder = Path(tempfile.mkdtemp(prefix="chatkit-startup-"))
    try:
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
            f"median of {runs} fresh processes"
        )
        table(
            "1. import time of each module alone (s)",
            [
                (module, f"{median_import(f'import {module}', module, runs, folder):6.3f}")
                for module in [*DEPENDENCIES, *OURS]
            ],
        )
        sdk = median_import("import chatkit.server", "chatkit.server", runs, folder)
        over_app = median_import(
            "import chatkit.server; import chatkit_backend.app", "chatkit_backend.app", runs, folder
        )
        over_cli = median_import(
            "import chatkit.server; import chatkit_backend.cli.main",
            "chatkit_backend.cli.main",
            runs,
            folder,
        )
        verdict = "ok" if over_app <= TARGET_OVER_SDK else f"over the {TARGET_OVER_SDK} s target"
        table(
            "2. our share on top of the SDK (s)",
            [
                ("chatkit.server alone", f"{sdk:6.3f}"),
                ("+ chatkit_backend.app", f"{over_app:6.3f}  ({verdict})"),
                ("+ chatkit_backend.cli.main", f"{over_cli:6.3f}"),
            ],
        )
        start_folder = folder / "default-start"
        start_folder.mkdir()
        sdk_modules = modules_after("import chatkit.server", start_folder)
        first = modules_after(DEFAULT_START, start_folder)
        later = modules_after(DEFAULT_START, start_folder)

        def status(module: str, loaded: set[str]) -> str:
            if not is_loaded(module, loaded):
                return "-"
            return "SDK" if is_loaded(module, sdk_modules) else "imported"

        table(
            "3. heavy modules a default start imports (create_app() and its lifespan; "
            "SDK: chatkit.server imports it too)",
            [("", f"{'first start':<12}  later start")]
            + [
                (module, f"{status(module, first):<12}  {status(module, later)}")
                for module in HEAVY
            ],
        )
        if options.skip_serve:
            return
        fresh, again = [], []
        for number in range(runs):
            data = folder / f"serve-{number}"
            data.mkdir()
            fresh.append(first_healthz(data))
            again.append(first_healthz(data))
        table(
            "4. chatkit-backend serve: launch to first /healthz (s)",
            [
                ("new data folder (creates the schema)", f"{statistics.median(fresh):6.3f}"),
                ("existing data folder", f"{statistics.median(again):6.3f}"),
            ],
        )
        notice, worker, total = [], [], []
        for number in range(max(1, runs // 2)):
            data = folder / f"reload-{number}"
            data.mkdir()
            to_notice, to_ready, to_answer = reload_restart(data)
            notice.append(to_notice)
            worker.append(to_ready)
            total.append(to_answer)
        table(
            "5. chatkit-backend serve --reload: a restart after a change (s)",
            [
                (
                    "change to the watcher's notice (watchfiles)",
                    f"{statistics.median(notice):6.3f}",
                ),
                (
                    "notice to the new worker's startup complete",
                    f"{statistics.median(worker):6.3f}",
                ),
                ("change to the new worker's first /healthz", f"{statistics.median(total):6.3f}"),
            ],
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
