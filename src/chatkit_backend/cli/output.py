"""Shared CLI output: readable in a terminal, parseable with ``--json``, errors as one line.

Commands print data to stdout and problems to stderr. ``--json`` switches stdout to
JSON (one document, or JSON lines for exports) with nothing else mixed in; progress bars
only appear when stdout is a terminal and ``--json`` is off.
"""

import asyncio
import json
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

T = TypeVar("T")

JSON_HELP = "Print machine-readable JSON instead of text."
JsonOption = typer.Option(False, "--json", help=JSON_HELP)


def stdout_console() -> Console:
    """A console on the current ``sys.stdout`` (looked up per call, so tests can capture it)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


UNBOUNDED_WIDTH = 100_000


def print_table(table: Any) -> None:
    """Print a ``rich.table.Table`` of data on stdout.

    On a terminal it fits the window, wrapping the columns not marked ``no_wrap`` (titles);
    into a pipe or a file every cell is printed whole, however wide the line: rich would
    otherwise cut ids, days and numbers at 80 columns (``thr_b2124bc28e…``).
    """
    out = stdout_console()
    if not out.is_terminal:
        out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=UNBOUNDED_WIDTH)
    out.print(table)


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    stderr_console().print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def warn(message: str) -> None:
    stderr_console().print(f"[yellow]warning:[/] {escape(message)}")


def escape(text: str) -> str:
    """Escape rich markup in text that came from users or servers."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def to_jsonable(value: Any) -> Any:
    """Turn pydantic models, dataclass-like rows, datetimes and paths into JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    return value


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_json_line(value: Any) -> None:
    """One compact JSON line on stdout (for JSON-lines output)."""
    sys.stdout.write(
        json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":")) + "\n"
    )


def shows_progress(as_json: bool) -> bool:
    """Progress bars only for people: stdout is a terminal and ``--json`` is off."""
    return not as_json and sys.stdout.isatty()


class Steps:
    """A progress bar that does nothing when disabled, so callers never branch."""

    def __init__(self, progress: Progress | None, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def total(self, total: int | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def describe(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=text)


@contextmanager
def progress(
    description: str, *, total: int | None = None, enabled: bool = True, stderr: bool = False
) -> Iterator[Steps]:
    """A transient rich progress bar (on stdout, or stderr), shown only when ``enabled``."""
    if not enabled:
        yield Steps(None, None)
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr_console() if stderr else stdout_console(),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield Steps(bar, task)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; our errors and the client's errors become one ``error:`` line."""
    from chatkit_backend.client.errors import ChatKitError
    from chatkit_backend.errors import BackendError

    try:
        return asyncio.run(coroutine)
    except ChatKitError as exc:
        fail(_describe_client_error(exc))
    except BackendError as exc:
        fail(exc.message)


def _describe_client_error(exc: Any) -> str:
    parts = [str(exc)]
    if getattr(exc, "request_id", None):
        parts.append(f"(request id {exc.request_id})")
    return " ".join(parts)
