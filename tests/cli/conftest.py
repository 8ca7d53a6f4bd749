"""Helpers for CLI tests: run a command in-process, walk the command tree, real servers."""

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from chatkit_backend.cli.main import app
from tests.client.conftest import Live, live_settings, serve


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run ``chatkit-backend <args>`` in this process; stdout and stderr stay apart.

    ``env`` is set in ``os.environ`` for the run only (as a shell's ``VAR=value cmd`` would).
    """
    return CliRunner().invoke(app, list(args), input=input, env=env, catch_exceptions=False)


def command_tree(
    command: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of ``chatkit-backend``, groups included, with its path of names."""
    command = typer.main.get_command(app) if command is None else command
    yield path, command
    if is_group(command):
        context = typer.Context(command)
        for name in sorted(command.list_commands(context)):
            yield from command_tree(command.get_command(context, name), (*path, name))


def is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def leaf_commands() -> list[tuple[tuple[str, ...], Any]]:
    """The commands that run (not groups), with their paths."""
    return [(path, command) for path, command in command_tree() if not is_group(command)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A real server (SQLite in a temp folder, offline model) for the module's tests."""
    with serve(live_settings(tmp_path_factory.mktemp("cli"))) as running:
        yield running
