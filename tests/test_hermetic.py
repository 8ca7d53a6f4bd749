"""Tests ignore the developer's shell and ``.env`` (``tests/conftest.py``).

``test_a_hostile_shell_and_dotenv_change_no_result`` runs a few tests in a pytest subprocess
whose environment and working folder's ``.env`` set everything wrong; they must pass.
"""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from chatkit_backend.app import create_app
from chatkit_backend.settings import Settings
from tests.support.environment import FIXED, HARNESS_PREFIX, is_cleared, subprocess_env
from tests.support.live import REPO, run_app, run_cli, run_serve

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers there

HOSTILE_SHELL = {
    # issue 19's acceptance environment
    "OPENAI_API_KEY": "sk-bogus",
    "CHATKIT_AUTH": "api-key",
    "CHATKIT_DATABASE_URL": "postgresql://nowhere/x",
    # and more of what a developer's shell may hold
    "CHATKIT_MODEL": "openai:gpt-4.1",
    "CHATKIT_PATH": "/elsewhere",
    "CHATKIT_DEBUG": "true",
    "CHATKIT_LOG_FORMAT": "json",
    "OPENAI_BASE_URL": UNREACHABLE,
    "OPENAI_AGENTS_DISABLE_TRACING": "false",
    "OTEL_EXPORTER_OTLP_ENDPOINT": UNREACHABLE,
    "OTEL_TRACES_EXPORTER": "otlp",
    "AWS_PROFILE": "no-such-profile",
    "AWS_ENDPOINT_URL": UNREACHABLE,
    "PGSSLMODE": "require",
    "PGPASSWORD": "wrong",
    "HTTP_PROXY": UNREACHABLE,
    "HTTPS_PROXY": UNREACHABLE,
    "ALL_PROXY": UNREACHABLE,
    "http_proxy": UNREACHABLE,
    "FORWARDED_ALLOW_IPS": "*",
    "WEB_CONCURRENCY": "3",
    "COLUMNS": "20",
    "FORCE_COLOR": "1",
}

HOSTILE_DOTENV = """\
CHATKIT_AUTH=jwt
CHATKIT_PORT=1
CHATKIT_PATH=/from-dotenv
CHATKIT_DATABASE_URL=postgresql://nowhere/from-dotenv
CHATKIT_MODEL=openai:gpt-4.1
OPENAI_API_KEY=sk-from-dotenv
"""

# What the subprocess runs: the probe below, and tests that read Settings' defaults
# (auth, store, model, key): in-process, in a uvicorn thread, in CLI and `serve` processes.
SUBSET = [
    "tests/test_hermetic.py::test_tests_see_no_developer_variable_and_no_dotenv",
    "tests/responder/test_models.py",
]


def test_tests_see_no_developer_variable_and_no_dotenv(tmp_path: Path) -> None:
    leaked = sorted(
        name for name, value in os.environ.items() if is_cleared(name) and FIXED.get(name) != value
    )
    assert leaked == []
    assert list(Path.cwd().iterdir()) == []  # an empty folder: no .env to read

    settings = Settings(data_dir=tmp_path)
    assert (settings.auth, settings.path, settings.database_url) == ("none", "/chatkit", None)
    assert (settings.model, settings.model_api_key, settings.debug) == (None, None, False)

    request = {"type": "threads.list", "params": {}}
    with run_app(create_app(settings)) as base_url:  # uvicorn in a thread, no credentials
        assert httpx.post(f"{base_url}/chatkit", json=request).status_code == 200

    current = run_cli(["db", "current"], {"CHATKIT_DATA_DIR": str(tmp_path / "cli")})
    assert current.returncode == 0, current.stderr
    assert f"database: sqlite+aiosqlite:///{tmp_path}/cli/chatkit.db" in current.stdout

    with run_serve({"CHATKIT_DATA_DIR": str(tmp_path / "serve")}) as (base_url, _process):
        assert httpx.post(f"{base_url}/chatkit", json=request).status_code == 200


def test_a_hostile_shell_and_dotenv_change_no_result(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(HOSTILE_DOTENV)
    harness = {name: value for name, value in os.environ.items() if name.startswith(HARNESS_PREFIX)}
    env = subprocess_env({**harness, "CI": os.environ.get("CI", ""), **HOSTILE_SHELL})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--color=no",
            f"--rootdir={REPO}",
            f"--config-file={REPO / 'pyproject.toml'}",
            f"--basetemp={tmp_path / 'basetemp'}",
            *(str(REPO / target) for target in SUBSET),
        ],
        cwd=tmp_path,  # as a developer runs pytest: from a folder holding the .env
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]
