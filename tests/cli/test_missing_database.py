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
