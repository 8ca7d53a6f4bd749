"""``chatkit-backend db upgrade`` and ``db current``, run in-process."""

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from chatkit_backend.cli.main import app
from chatkit_backend.stores import migrations

runner = CliRunner()
HEAD = migrations.head()


def test_upgrade_creates_the_schema_then_has_nothing_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    first = runner.invoke(app, ["db", "upgrade", "--database-url", url], catch_exceptions=False)
    assert first.exit_code == 0
    assert first.stdout == f"{url}: schema upgraded from revision none to {HEAD}\n"
    again = runner.invoke(app, ["db", "upgrade", "--database-url", url], catch_exceptions=False)
    assert again.stdout == f"{url}: schema already at revision {HEAD}, nothing to do\n"
    assert migrations.current(url) == HEAD


def test_current_names_the_fix_for_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    result = runner.invoke(app, ["db", "current", "--database-url", url], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"database: {url}",
        "revision: none (empty database)",
        f"this version needs: {HEAD}",
        f"status: out of date: run `chatkit-backend db upgrade --database-url {url}`",
    ]
    assert not (tmp_path / "chat.db").exists()  # looking does not create the file


def test_current_as_json_after_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    migrations.upgrade(url)
    result = runner.invoke(
        app, ["db", "current", "--database-url", url, "--json"], catch_exceptions=False
    )
    assert json.loads(result.stdout) == {
        "database": url,
        "revision": HEAD,
        "head": HEAD,
        "up_to_date": True,
    }


def test_database_url_defaults_to_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the CLI reads CHATKIT_* like `serve` does
    monkeypatch.setenv("CHATKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CHATKIT_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0
    assert (tmp_path / "data" / "chatkit.db").exists()
    assert f"sqlite+aiosqlite:///{tmp_path}/data/chatkit.db" in result.stdout


def test_bad_url_is_one_error_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--database-url", "mysql://u@h/db"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unsupported database URL scheme 'mysql'; use memory://")


def test_memory_url_has_no_schema() -> None:
    result = runner.invoke(app, ["db", "current", "--database-url", "memory://"])
    assert result.exit_code == 1
    assert (
        result.stderr == "error: memory:// keeps no schema: there is nothing to migrate or show\n"
    )


def test_unreachable_database_is_one_error_line_without_the_password() -> None:
    url = "postgresql://u:s3cret@127.0.0.1:1/chat"
    result = runner.invoke(app, ["db", "current", "--database-url", url])
    assert result.exit_code == 1
    shown = make_url(url).render_as_string(hide_password=True)
    assert result.stderr.startswith(
        f"error: cannot use the database at {shown}: ConnectionRefusedError"
    )
    assert "s3cret" not in result.stderr


@pytest.mark.postgres
def test_upgrade_and_current_on_postgresql(fresh_postgres_url: str) -> None:
    upgraded = runner.invoke(
        app, ["db", "upgrade", "--database-url", fresh_postgres_url], catch_exceptions=False
    )
    assert (
        upgraded.stdout == f"{fresh_postgres_url}: schema upgraded from revision none to {HEAD}\n"
    )
    current = runner.invoke(
        app, ["db", "current", "--database-url", fresh_postgres_url], catch_exceptions=False
    )
    assert "status: up to date" in current.stdout
