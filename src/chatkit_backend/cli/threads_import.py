"""``chatkit-backend threads import FILE [--user U]``: restore what ``threads export`` wrote.

Each line is written through the store as its owner (``--user`` re-owns every thread).
A line that is not a thread record, or a thread another user already owns here, is
reported and skipped; the others are imported. Importing the same file again changes
nothing.
"""

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import typer
from chatkit.store import NotFoundError as SDKNotFoundError

from chatkit_backend.cli.admin import DatabaseUrlOption, DataDirOption, admin_settings, opened_store
from chatkit_backend.cli.output import (
    JsonOption,
    escape,
    fail,
    print_json,
    progress,
    shows_progress,
    stderr_console,
    stdout_console,
)
from chatkit_backend.cli.output import run as run_async
from chatkit_backend.settings import Settings
from chatkit_backend.stores import BackendStore
from chatkit_backend.transfer.errors import InvalidRecordError, TransferError
from chatkit_backend.transfer.files import AttachmentFiles
from chatkit_backend.transfer.records import parse_record
from chatkit_backend.transfer.threads import import_record


@dataclass
class ImportReport:
    threads: int = 0
    created: int = 0
    items: int = 0
    attachments: int = 0
    feedback: int = 0
    files: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "created": self.created,
            "existing": self.threads - self.created,
            "items": self.items,
            "attachments": self.attachments,
            "feedback": self.feedback,
            "files": self.files,
            "failed": self.failed,
        }


def import_threads(
    file: str = typer.Argument(..., help="A file written by `threads export`; `-` reads stdin."),
    user: str | None = typer.Option(
        None,
        "--user",
        "-u",
        help="Owner of every imported thread. Default: each line's user_id.",
        show_default=False,
    ),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Import threads from a `threads export` file, exactly as they were exported."""
    settings = admin_settings(database_url, data_dir)
    if user is not None and not user.strip():
        fail("--user must not be empty", code=2)
    if file != "-" and not Path(file).is_file():
        fail(f"{file}: no such file", code=2)
    stream: TextIO = sys.stdin if file == "-" else Path(file).open(encoding="utf-8")
    try:
        total = None if file == "-" else _count_lines(Path(file))
        report = run_async(_import(settings, stream, user, total, shows_progress(as_json)))
    finally:
        if stream is not sys.stdin:
            stream.close()
    if as_json:
        print_json(report.as_json())
    else:
        _print(report)
    if report.failed:
        raise typer.Exit(1)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _lines(stream: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


async def _import(
    settings: Settings, stream: TextIO, user: str | None, total: int | None, show: bool
) -> ImportReport:
    report = ImportReport()
    async with opened_store(settings, create=True) as store:
        files = AttachmentFiles.at(settings) if settings.attachments else None
        try:
            await _import_lines(store, files, stream, user, report, total, show)
        finally:
            if files is not None:
                await files.aclose()
    return report


async def _import_lines(
    store: BackendStore,
    files: AttachmentFiles | None,
    stream: TextIO,
    user: str | None,
    report: ImportReport,
    total: int | None,
    show: bool,
) -> None:
    with progress("importing", total=total, enabled=show) as steps:
        for number, line in _lines(stream):
            steps.advance()
            try:
                record = parse_record(line, number)
                done = await import_record(store, record, user_id=user, files=files)
            except (InvalidRecordError, TransferError) as exc:
                report.failed.append({"line": number, "error": exc.message})
                continue
            except SDKNotFoundError as exc:  # feedback or an attachment naming a missing row
                report.failed.append({"line": number, "error": f"line {number}: {exc}"})
                continue
            report.threads += 1
            report.created += done.created
            report.items += done.items
            report.attachments += done.attachments
            report.feedback += done.feedback
            report.files += done.files


def _print(report: ImportReport) -> None:
    out = stdout_console()
    s = "" if report.threads == 1 else "s"
    out.print(
        f"Imported {report.threads} thread{s} ({report.created} new, "
        f"{report.threads - report.created} already here): {report.items} items, "
        f"{report.attachments} attachments, {report.feedback} feedback, {report.files} files."
    )
    err = stderr_console()
    for failure in report.failed:
        err.print(f"[bold red]error:[/] {escape(failure['error'])}")
