"""``chatkit-backend serve``: real processes on 127.0.0.1, the README's curl, workers and reload."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest
from pydantic import SecretStr

from chatkit_backend.agent_config import FunctionEntry, ImageGenerationEntry
from chatkit_backend.cli.serve import per_process_limits_warning, start_line
from chatkit_backend.settings import Settings, SettingsError
from tests.support.live import clean_env, free_port, run_cli, run_serve, sse_events

README_CREATE = '{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{}}}}'
START = "chatkit-backend listening on "


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"CHATKIT_DATA_DIR": str(tmp_path / "data"), "CHATKIT_OFFLINE_TOKEN_DELAY": "0", **extra}


def _start_line(process: subprocess.Popen[str]) -> str:
    """The first output line that announces the server (the server is already up)."""
    assert process.stdout is not None
    for _ in range(50):
        line = process.stdout.readline()
        if line.startswith(START):
            return line.rstrip("\n")
    raise AssertionError("serve printed no start line")


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(args, {**env, "COLUMNS": "300"}, cwd=cwd)


# -- the start line -------------------------------------------------------------------------------
def test_start_line_names_address_store_and_model(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, port=8123)
    assert start_line(settings).startswith(
        f"chatkit-backend listening on http://127.0.0.1:8123/chatkit | store: sqlite {tmp_path.as_posix()}/chatkit.db"
        " | model: offline (built-in, no network; set CHATKIT_MODEL_API_KEY"
    )


def test_start_line_hides_the_database_password_and_shows_the_console() -> None:
    settings = Settings(
        database_url="postgresql://app:hunter2@db:5432/chat",
        model="openai:gpt-4.1",
        model_api_key=SecretStr("sk-not-shown"),
        console=True,
        port=9000,
    )
    line = start_line(settings)
    assert "hunter2" not in line and "sk-not-shown" not in line
    assert "store: postgresql postgresql://app:***@db:5432/chat" in line
    assert "model: openai:gpt-4.1" in line
    assert line.endswith("| console: http://127.0.0.1:9000/console")


def test_start_line_for_all_interfaces_and_a_local_model() -> None:
    settings = Settings(
        host="0.0.0.0",
        database_url="memory://",
        model="openai-compatible:llama3.2",
        model_base_url="http://127.0.0.1:11434/v1",
    )
    line = start_line(settings)
    assert line.startswith(
        "chatkit-backend listening on http://localhost:8000/chatkit (all interfaces) | "
    )
    assert "store: memory (threads are lost on restart)" in line
    assert "model: openai-compatible:llama3.2 at http://127.0.0.1:11434/v1" in line


def test_start_line_refuses_image_generation_without_attachments() -> None:
    """Checked before the start line, as create_app would refuse it in each worker."""
    settings = Settings(
        database_url="memory://",
        model="openai:gpt-4.1",
        model_api_key=SecretStr("sk-not-shown"),
        tools=[ImageGenerationEntry(type="image_generation")],
        attachments=False,
    )
    with pytest.raises(SettingsError) as caught:
        start_line(settings)
    assert str(caught.value) == (
        "CHATKIT_TOOLS has image_generation, which needs CHATKIT_ATTACHMENTS=true: generated "
        "images are kept as attachments of their thread"
    )


def test_start_line_refuses_a_tool_menu_function_the_agent_lacks() -> None:
    """Checked before the start line for the default app; an app of yours (``--factory``)
    may give the agent that tool through create_app(tools=...), so it is not refused."""
    settings = Settings(
        database_url="memory://",
        tools=[FunctionEntry(type="function", name="lookup_order", id="orders")],
    )
    with pytest.raises(SettingsError) as caught:
        start_line(settings)
    assert str(caught.value) == (
        "CHATKIT_TOOLS entry 'orders' names the function 'lookup_order', which agent "
        "'Assistant' does not have (its function tools: none)"
    )
    assert start_line(settings, default_app=False).endswith("| tools: function")


# -- serving ---------------------------------------------------------------------------------------
def test_serve_prints_where_it_listens_and_answers_the_readme_curl(tmp_path: Path) -> None:
    with run_serve(_env(tmp_path), cwd=tmp_path) as (base_url, process):
        line = _start_line(process)
        assert line.startswith(f"{START}{base_url}/chatkit | store: sqlite ")
        assert f"{tmp_path.as_posix()}/data/chatkit.db" in line
        assert "| model: offline" in line

        created = subprocess.run(
            ["curl", "-sS", "-N", "-X", "POST", f"{base_url}/chatkit", "-d", README_CREATE],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        events = sse_events(created.stdout)
        assert events[0]["type"] == "thread.created"
        assert any(event["type"] == "thread.item.updated" for event in events)
        thread_id = events[0]["thread"]["id"]

        listed = subprocess.run(
            [
                "curl",
                "-sS",
                "-X",
                "POST",
                f"{base_url}/chatkit",
                "-d",
                '{"type":"threads.list","params":{}}',
            ],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert [thread["id"] for thread in json.loads(listed.stdout)["data"]] == [thread_id]


def test_serve_starts_with_a_lower_case_log_level(tmp_path: Path) -> None:
    """``CHATKIT_LOG_LEVEL=info`` as a uvicorn user writes it (it used to stop the start)."""
    env = _env(tmp_path, CHATKIT_LOG_LEVEL="info")
    with run_serve(env, cwd=tmp_path, timeout=60) as (base_url, process):
        assert _start_line(process).startswith(f"{START}{base_url}/chatkit")
        assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}


def test_serve_with_two_workers_runs_two_processes(tmp_path: Path) -> None:
    with run_serve(_env(tmp_path), args=["--workers", "2"], cwd=tmp_path) as (base_url, process):
        deadline = time.monotonic() + 20
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [
                child
                for child in psutil.Process(process.pid).children()
                if "spawn_main" in " ".join(child.cmdline())
            ]
            time.sleep(0.1)
        assert len(workers) == 2
        for _ in range(10):
            assert (
                httpx.post(
                    f"{base_url}/chatkit", content=b'{"type":"threads.list","params":{}}'
                ).status_code
                == 200
            )


RELOAD_APP = """
from fastapi import FastAPI

from chatkit_backend.app import create_app as create_backend_app

VERSION = "{version}"


def create_app() -> FastAPI:
    app = create_backend_app()

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {{"version": VERSION}}

    return app
"""


def test_serve_reload_restarts_on_code_change(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    module = project / "reload_app.py"
    module.write_text(textwrap.dedent(RELOAD_APP.format(version="one")))
    args = ["--reload", "--factory", "reload_app:create_app"]
    with run_serve(_env(tmp_path), args=args, cwd=project, timeout=60) as (base_url, _):
        assert httpx.get(f"{base_url}/version").json() == {"version": "one"}
        module.write_text(textwrap.dedent(RELOAD_APP.format(version="two")))
        deadline = time.monotonic() + 30
        seen = "one"
        while time.monotonic() < deadline and seen != "two":
            time.sleep(0.2)
            try:
                seen = httpx.get(f"{base_url}/version", timeout=2).json()["version"]
            except httpx.HTTPError:
                continue
        assert seen == "two"


# -- refusals ---------------------------------------------------------------------------------------
def test_serve_refuses_a_public_address_without_auth(tmp_path: Path) -> None:
    done = _run(
        ["serve"], _env(tmp_path, CHATKIT_HOST="0.0.0.0", CHATKIT_PORT=str(free_port())), tmp_path
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 with CHATKIT_AUTH=none" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_serve_refuses_reload_with_several_workers(tmp_path: Path) -> None:
    done = _run(
        ["serve", "--reload", "--workers", "2"],
        _env(tmp_path, CHATKIT_PORT=str(free_port())),
        tmp_path,
    )
    assert done.returncode == 2
    assert "--reload and --workers > 1 cannot be combined" in done.stderr


def test_serve_refuses_an_unsupported_database_url_as_a_bad_setting(tmp_path: Path) -> None:
    url = "mysql://app:hunter2@db.example/chat"
    done = _run(["serve"], _env(tmp_path, CHATKIT_DATABASE_URL=url), tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "error: invalid settings:\n  CHATKIT_DATABASE_URL: unsupported database URL scheme 'mysql'"
    )
    assert "hunter2" not in done.stderr


def test_serve_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    url = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/chat"
    done = _run(["serve"], _env(tmp_path, CHATKIT_DATABASE_URL=url), tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: store not ready: cannot reach the database at "
        f"{url.replace('hunter2', '***')}: ConnectionRefusedError"
    ]


@pytest.mark.parametrize(("option", "value"), [("--port", "abc"), ("--workers", "many")])
def test_serve_rejects_invalid_options(tmp_path: Path, option: str, value: str) -> None:
    done = _run(["serve", option, value], _env(tmp_path), tmp_path)
    assert done.returncode == 2
    assert f"Invalid value for '{option}'" in done.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "chatkit-backend"
    done = subprocess.run(
        [str(script), "serve", "--help"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for option in ("--host", "--port", "--reload", "--workers"):
        assert option in done.stdout


def test_several_workers_with_in_process_limits_are_warned_about() -> None:
    limited = Settings(rate_limit_per_minute=60)
    assert per_process_limits_warning(limited, 4) == (
        "rate limits are counted per process: with 4 workers a user gets up to 4 times the budget. "
        "Set CHATKIT_REDIS_URL to share them."
    )
    assert per_process_limits_warning(limited, 1) is None
    assert per_process_limits_warning(Settings(), 4) is None
    assert (
        per_process_limits_warning(
            Settings(rate_limit_per_minute=60, redis_url="redis://127.0.0.1:6379/0"), 4
        )
        is None
    )
