"""Commands that read or change threads never create a database behind a wrong path."""

from pathlib import Path

import pytest

from tests.cli.conftest import invoke

READING_COMMANDS = [
    ["threads", "list"],
    ["threads", "show", "thr_1", "--user", "u1"],
    ["threads", "export", "--user", "u1"],
    ["threads", "lock", "thr_1"],
    ["threads", "delete", "thr_1", "--user", "u1", "--yes"],
    ["prune", "--older-than", "30d"],
    ["usage"],
    ["feedback", "list"],
]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
def test_a_missing_sqlite_file_is_an_error_and_stays_missing(
    command: list[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "typo"
    result = invoke(*command, "--data-dir", str(data_dir))
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stderr == (
        f"error: no database at {data_dir / 'chatkit.db'}: check --data-dir or --database-url "
        "(the server creates it when it first starts)\n"
    )
    assert not data_dir.exists()


def test_threads_import_creates_the_database(tmp_path: Path) -> None:
    export = tmp_path / "none.jsonl"
    export.write_text("")
    data_dir = tmp_path / "new"
    result = invoke("threads", "import", str(export), "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.stderr
    assert (data_dir / "chatkit.db").exists()


def test_a_folder_where_the_database_file_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.db").mkdir()
    result = invoke("threads", "list", "--database-url", f"sqlite:///{tmp_path / 'd.db'}")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no database at {tmp_path / 'd.db'}:")


def test_a_memory_store_is_never_missing() -> None:
    result = invoke("threads", "list", "--database-url", "memory://")
    assert result.exit_code == 0, result.stderr
    assert "No threads." in result.stdout


def test_attachments_prune_leaves_no_database_behind(tmp_path: Path) -> None:
    data_dir = tmp_path / "typo"
    result = invoke(
        "attachments", "prune", "--older-than", "1d", env={"CHATKIT_DATA_DIR": str(data_dir)}
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no database at {data_dir / 'chatkit.db'}: check --data-dir or --database-url "
        "(the server creates it when it first starts)\n"
    )
    assert not data_dir.exists()
