"""``chatkit-backend doctor`` on sample apps that each have one problem, on our own app, and live."""

import json
import secrets
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatkit_backend.stores import migrations
from tests.cli.conftest import invoke
from tests.client.conftest import Live, live_settings, serve
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.stores.postgres import create_database, drop_database
from tests.support.live import free_port, run_app

SAMPLES = "tests.cli.samples"


def doctor_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = invoke("doctor", *args, "--json", env=env)
    report: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, report


def finding(report: dict[str, Any], check: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [f for f in report["findings"] if f["check"] == check]
    assert len(matches) == 1, matches
    return matches[0]


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {f["check"]: f["status"] for f in report["findings"]}


# -- sample apps ------------------------------------------------------------------------------
def test_the_guides_app_done_right_passes() -> None:
    code, report = doctor_json(f"{SAMPLES}.guide_app:create_app", "--no-model")

    assert code == 0
    assert report["ok"] is True
    assert statuses(report) == {
        "import": "ok",
        "routes": "ok",
        "parameters": "ok",
        "cors": "ok",
        "store": "skipped",
        "model": "skipped",
    }
    assert (
        finding(report, "import")["message"]
        == f"{SAMPLES}.guide_app:create_app() built a FastAPI app"
    )


@pytest.fixture
def in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the project's folder, as a user runs the doctor: locations are relative to it."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])


@pytest.mark.usefixtures("in_the_project")
def test_postponed_annotations_are_found_with_file_and_line() -> None:
    code, report = doctor_json(f"{SAMPLES}.future_annotations:app", "--no-model")

    assert code == 1
    problem = finding(report, "parameters")
    assert problem["status"] == "problem"
    assert problem["message"] == (
        "parameter 'request' of POST /chatkit became a query or body parameter: its annotation "
        "'Request' stayed a string FastAPI could not resolve; every call answers 422"
    )
    assert problem["location"] == "tests/cli/samples/future_annotations.py:27"
    assert problem["fix"].startswith("remove `from __future__ import annotations` from that file")


@pytest.mark.usefixtures("in_the_project")
def test_the_text_report_names_the_problem_its_place_and_its_fix() -> None:
    result = invoke("doctor", f"{SAMPLES}.future_annotations:app", "--no-model")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"chatkit-backend doctor: {SAMPLES}.future_annotations:app"
    assert any(
        line.startswith(" ✗ parameters parameter 'request' of POST /chatkit") for line in lines
    )
    assert "              at tests/cli/samples/future_annotations.py:27" in lines
    assert any(
        line.strip().startswith("fix: remove `from __future__ import annotations`")
        for line in lines
    )
    assert lines[-1] == "1 problem, 0 warnings."


@pytest.mark.parametrize(
    ("sample", "message", "fix_start"),
    [
        (
            "cors_localhost_only",
            "CORS allows http://localhost:3000 but not http://127.0.0.1:3000: browsers treat them "
            "as different origins, so the UI fails when opened at the other address",
            "add 'http://127.0.0.1:3000' to allow_origins",
        ),
        (
            "cors_wildcard_credentials",
            "allow_origins=['*'] with allow_credentials=True: any web site can send your users' "
            "cookies and read the answers",
            "list the exact origins of your UI",
        ),
        (
            "no_cors",
            "no CORS middleware: a browser page on another origin (the ChatKit UI on "
            "http://localhost:3000) is blocked, and its OPTIONS preflight answers 405",
            "add CORSMiddleware before the routes",
        ),
    ],
)
def test_cors_problems(sample: str, message: str, fix_start: str) -> None:
    code, report = doctor_json(f"{SAMPLES}.{sample}:app", "--no-model")

    assert code == 1
    cors = finding(report, "cors")
    assert (cors["status"], cors["message"]) == ("problem", message)
    assert cors["fix"].startswith(fix_start)
    assert statuses(report)["parameters"] == "ok"


def test_an_import_error_shows_the_traceback_and_skips_the_rest() -> None:
    code, report = doctor_json(f"{SAMPLES}.broken_import:app", "--no-model")

    assert code == 1
    imported = finding(report, "import")
    assert imported["message"] == f"importing {SAMPLES}.broken_import failed: KeyError: 'title'"
    assert imported["location"].endswith("tests/cli/samples/broken_import.py:7")
    assert 'app = FastAPI(title=SETTINGS["title"])' in imported["details"]
    assert imported["details"].rstrip().endswith("KeyError: 'title'")
    assert statuses(report) == {
        "import": "problem",
        "routes": "skipped",
        "parameters": "skipped",
        "cors": "skipped",
        "store": "skipped",
        "attachments": "skipped",
        "model": "skipped",
    }


def test_a_missing_module_names_the_module_and_the_fix() -> None:
    code, report = doctor_json("no_such_project.server:app", "--no-model")

    assert code == 1
    imported = finding(report, "import")
    assert imported["message"] == (
        "importing no_such_project.server failed: ModuleNotFoundError: No module named 'no_such_project'"
    )
    assert imported["fix"].startswith("install the missing module 'no_such_project'")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("just_a_module", "'just_a_module' is not of the form module:attribute"),
        (f"{SAMPLES}.guide_app:missing", f"module {SAMPLES}.guide_app has no attribute 'missing'"),
        (
            f"{SAMPLES}.needs_arguments:create_app",
            f"calling {SAMPLES}.needs_arguments:create_app() failed: TypeError: "
            "create_app() missing 1 required positional argument: 'debug'",
        ),
    ],
)
def test_targets_that_do_not_give_an_app(target: str, message: str) -> None:
    code, report = doctor_json(target, "--no-model")

    assert code == 1
    assert finding(report, "import")["message"] == message


def test_a_missing_chatkit_route_lists_the_routes_there_are() -> None:
    code, report = doctor_json(f"{SAMPLES}.wrong_path:app", "--no-model")

    assert code == 1
    routes = finding(report, "routes")
    assert routes["message"] == "no POST route at /chatkit among the app's 5 routes"
    assert "POST /api/chat" in routes["details"].splitlines()
    assert doctor_json(f"{SAMPLES}.wrong_path:app", "--no-model", "--path", "/api/chat")[0] == 0


# -- our app: store and model -----------------------------------------------------------------
def app_module(tmp_path: Path, **settings: Any) -> str:
    """Write a module whose ``build()`` makes our app with these settings; return its target."""
    name = f"doctor_target_{secrets.token_hex(4)}"
    values = {"data_dir": str(tmp_path / "data"), "offline_token_delay": 0.0, **settings}
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            from chatkit_backend.app import create_app
            from chatkit_backend.settings import Settings


            def build():
                return create_app(Settings(**{values!r}))
            """
        )
    )
    return f"{name}:build"


def test_our_app_with_a_migrated_store_passes_with_a_warning_for_the_offline_model(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    migrations.upgrade(url)
    target = app_module(tmp_path, database_url=url)

    code, report = doctor_json(target, "--app-dir", str(tmp_path))

    assert code == 0
    assert statuses(report) == {
        "import": "ok",
        "routes": "ok",
        "parameters": "ok",
        "cors": "ok",
        "store": "ok",
        "attachments": "ok",
        "model": "warning",
    }
    assert finding(report, "store")["message"] == (
        f"sqlite sqlite:///{tmp_path}/chat.db answers; schema at {migrations.head()} (current)"
    )
    assert finding(report, "attachments")["message"].startswith("file storage /")
    assert finding(report, "model")["message"] == (
        "no model is configured: the built-in offline model answers with canned text"
    )
    assert invoke("doctor", target, "--app-dir", str(tmp_path), "--strict").exit_code == 1


def test_an_empty_database_without_auto_upgrade_names_db_upgrade_and_is_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    url = f"sqlite:///{path}"
    target = app_module(tmp_path, database_url=url, db_auto_upgrade=False)

    code, report = doctor_json(target, "--app-dir", str(tmp_path), "--no-model")

    assert code == 1
    store = finding(report, "store")
    assert store["status"] == "problem"
    assert store["message"].startswith("database schema is at revision none (empty database)")
    assert store["fix"] == f"run `chatkit-backend db upgrade --database-url sqlite:///{path}`"
    assert migrations.current(url) is None  # the doctor looked, it did not migrate


def test_a_new_sqlite_file_with_auto_upgrade_is_fine_and_not_created(tmp_path: Path) -> None:
    target = app_module(tmp_path, database_url=f"sqlite:///{tmp_path}/later.db")

    code, report = doctor_json(target, "--app-dir", str(tmp_path), "--no-model")

    assert code == 0
    assert finding(report, "store")["message"].endswith(
        "the file does not exist yet; `serve` creates and migrates it"
    )
    assert not (tmp_path / "later.db").exists()


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A PostgreSQL database of its own, never migrated."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.mark.postgres
def test_postgresql_at_an_old_schema_names_db_upgrade(tmp_path: Path, empty_postgres: str) -> None:
    target = app_module(tmp_path, database_url=empty_postgres)

    code, report = doctor_json(target, "--app-dir", str(tmp_path), "--no-model")

    assert code == 1
    store = finding(report, "store")
    assert store["message"].startswith("database schema is at revision none (empty database)")
    assert store["fix"] == f"run `chatkit-backend db upgrade --database-url {empty_postgres}`"
    assert migrations.current(empty_postgres) is None  # looked at, not migrated


def test_an_unreachable_postgresql_is_a_problem(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    target = app_module(tmp_path, database_url=url, db_connect_timeout=2.0)

    code, report = doctor_json(target, "--app-dir", str(tmp_path), "--no-model", "--timeout", "5")

    assert code == 1
    store = finding(report, "store")
    assert store["message"] == (
        f"the postgresql store is not reachable: cannot reach the database at {url}: ConnectionRefusedError"
    )
    assert store["fix"].startswith("check CHATKIT_DATABASE_URL")


def test_the_model_probe_asks_for_one_token(tmp_path: Path) -> None:
    with FakeOpenAIServer() as fake:
        fake.enqueue(Reply(text="ok"))
        target = app_module(
            tmp_path,
            model="openai-compatible:tiny",
            model_base_url=fake.url,
            database_url="memory://",
        )
        code, report = doctor_json(target, "--app-dir", str(tmp_path))
        requests = fake.model_requests

    model = finding(report, "model")
    assert model["status"] == "ok"
    assert model["message"].endswith("answered a 1-token probe")
    assert len(requests) == 1
    assert requests[0].json()["model"] == "tiny"
    assert requests[0].json()["max_tokens"] == 1
    assert requests[0].json()["stream"] is True
    assert finding(report, "store")["status"] == "warning"  # memory:// loses threads
    assert code == 0


def test_a_model_that_refuses_the_probe_is_a_problem(tmp_path: Path) -> None:
    with FakeOpenAIServer(default_reply=Reply(status=401, error_message="bad key")) as fake:
        target = app_module(
            tmp_path,
            model="openai-compatible:tiny",
            model_base_url=fake.url,
            model_max_retries=0,
            database_url="memory://",
        )
        code, report = doctor_json(target, "--app-dir", str(tmp_path))

    assert code == 1
    model = finding(report, "model")
    assert model["status"] == "problem"
    assert "refused a 1-token probe: AuthenticationError" in model["message"]
    assert "bad key" in model["message"]


def test_a_silent_model_fails_the_probe_within_the_timeout(tmp_path: Path) -> None:
    with FakeOpenAIServer(default_reply=Reply(first_token_delay=10.0)) as fake:
        target = app_module(
            tmp_path,
            model="openai-compatible:tiny",
            model_base_url=fake.url,
            database_url="memory://",
        )
        code, report = doctor_json(target, "--app-dir", str(tmp_path), "--timeout", "1")

    assert code == 1
    assert finding(report, "model")["message"] == (
        f"openai-compatible:tiny at {fake.url} (Chat Completions) did not answer a 1-token probe within 1s"
    )


def test_no_model_sends_nothing_to_the_model(tmp_path: Path) -> None:
    with FakeOpenAIServer() as fake:
        target = app_module(tmp_path, model="openai-compatible:tiny", model_base_url=fake.url)
        code, report = doctor_json(target, "--app-dir", str(tmp_path), "--no-model")
        assert fake.model_requests == []
    assert finding(report, "model") == {
        "check": "model",
        "status": "skipped",
        "message": "--no-model",
        "fix": None,
        "location": None,
        "details": None,
    }
    assert code == 0


# -- a running server --------------------------------------------------------------------------
def test_a_live_server_answers_threads_list_and_the_preflight(live: Live) -> None:
    code, report = doctor_json("--url", live.url)

    assert code == 0
    assert report["target"] is None  # only --url: the local app is not checked
    assert statuses(report) == {"live": "ok", "preflight": "ok"}
    assert finding(report, "preflight")["message"] == (
        f"OPTIONS {live.url}/chatkit from http://localhost:3000 allowed (200)"
    )


def test_the_endpoint_url_is_accepted_as_well_as_the_base_url(live: Live) -> None:
    code, report = doctor_json("--url", f"{live.url}/chatkit")

    assert code == 0
    assert statuses(report) == {"live": "ok", "preflight": "ok"}
    assert finding(report, "live")["message"].startswith(f"POST {live.url}/chatkit answered")


def test_a_custom_path_is_checked_on_the_app_and_the_live_server(tmp_path: Path) -> None:
    """With CHATKIT_PATH=/v1/chat our own app is checked there, and --url takes its endpoint."""
    with serve(live_settings(tmp_path, path="/v1/chat")) as running:
        code, report = doctor_json(
            "chatkit_backend.app:create_app",
            "--url",
            f"{running.url}/v1/chat",
            "--no-model",
            env={"CHATKIT_PATH": "/v1/chat", "CHATKIT_DATA_DIR": str(tmp_path / "app")},
        )

    assert code == 0, report
    assert finding(report, "routes")["message"].endswith("POST /v1/chat is there")
    assert finding(report, "live")["status"] == "ok"


def test_a_preflight_from_an_origin_not_allowed_is_a_problem(live: Live) -> None:
    code, report = doctor_json("--url", live.url, "--origin", "http://evil.example")

    assert code == 1
    preflight = finding(report, "preflight")
    assert preflight["message"].startswith(
        f"OPTIONS {live.url}/chatkit from http://evil.example answered 400 without allowing the origin"
    )
    assert preflight["fix"].startswith("add 'http://evil.example' to the allowed origins")


def test_a_server_without_cors_answers_the_preflight_405() -> None:
    from tests.cli.samples import no_cors

    with run_app(no_cors.app) as url:
        code, report = doctor_json("--url", url)

    assert code == 1
    assert finding(report, "preflight")["message"] == (
        f"OPTIONS {url}/chatkit from http://localhost:3000 answered 405: the server has no CORS middleware"
    )


def test_nothing_listening_is_reported_with_the_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, report = doctor_json("--url", url, "--timeout", "2")

    assert code == 1
    live = finding(report, "live")
    assert live["message"].startswith(
        f"cannot reach {url}/chatkit: POST {url}/chatkit failed: ConnectError"
    )
    assert live["fix"] == "start the server (`chatkit-backend serve`) or check --url"
