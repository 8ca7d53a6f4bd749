"""Helpers for CLI tests: run a command in-process, and real servers to point it at."""

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from chatkit_backend.cli.main import app
from tests.client.conftest import Live, live_settings, serve


def invoke(*args: str, input: str | None = None) -> Result:
    """Run ``chatkit-backend <args>`` in this process; stdout and stderr stay apart."""
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A real server (SQLite in a temp folder, offline model) for the module's tests."""
    with serve(live_settings(tmp_path_factory.mktemp("cli"))) as running:
        yield running
