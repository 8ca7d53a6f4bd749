"""``chatkit-backend db copy --from URL --to URL``: move a deployment's data to another store.

Rows go table by table through ``chatkit_backend.transfer.db_copy``; attachment bytes go
from the source's attachment storage to the target's when the two differ (folders or
buckets). See docs/migrating.md.
"""

from typing import Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from chatkit_backend.cli.output import (
    JsonOption,
    escape,
    fail,
    print_json,
    progress,
    shows_progress,
    stdout_console,
    warn,
)
from chatkit_backend.cli.output import run as run_async
from chatkit_backend.settings import Settings, load_settings
from chatkit_backend.stores.engine import parse_database_url, sqlite_file, store_kind
from chatkit_backend.stores.errors import DatabaseURLError
from chatkit_backend.transfer.db_copy import CopyReport, check_urls, copy_database
from chatkit_backend.transfer.errors import TransferUsageError
from chatkit_backend.transfer.files import AttachmentFiles, FileCounts, OwnedFile, storage_url

STORAGE_HELP = (
    "Attachment storage of the {side}: a folder (path or file:// URL) or s3://bucket/prefix. "
    "Default: the `attachments` folder next to a SQLite {side} file; for PostgreSQL, or the "
    "configured database, CHATKIT_ATTACHMENTS_URL (or <data dir>/attachments)."
)


def copy_store(
    source: str = typer.Option(
        ..., "--from", help="Store URL to copy from (sqlite:///path.db or postgresql://...)."
    ),
    target: str = typer.Option(
        ..., "--to", help="Store URL to copy into; migrated first, created when empty."
    ),
    from_attachments: str | None = typer.Option(
        None, "--from-attachments", help=STORAGE_HELP.format(side="source"), show_default=False
    ),
    to_attachments: str | None = typer.Option(
        None, "--to-attachments", help=STORAGE_HELP.format(side="target"), show_default=False
    ),
    no_files: bool = typer.Option(
        False, "--no-files", help="Copy rows only, not attachment bytes (e.g. one shared bucket)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Copy every thread, item, attachment (rows and bytes) and feedback into another store."""
    try:
        check_urls(source, target)
        origin = _location(from_attachments, "--from-attachments")
        destination = _location(to_attachments, "--to-attachments")
    except (DatabaseURLError, TransferUsageError) as exc:
        fail(exc.message, code=2)
    settings = load_settings()
    if not no_files:
        origin = origin or _default_location(source, settings)
        destination = destination or _default_location(target, settings)
    report, counts, places = run_async(
        _copy(settings, source, target, None if no_files else (origin, destination), as_json)
    )
    if as_json:
        print_json(_as_json(report, places, counts))
        return
    _print(report, places, counts)


async def _copy(
    settings: Settings,
    source: str,
    target: str,
    locations: tuple[str | None, str | None] | None,
    as_json: bool,
) -> tuple[CopyReport, FileCounts | None, tuple[str, str] | None]:
    """Copy the rows, and the bytes when the two deployments keep them in different places."""
    files = None
    if locations is not None:
        files = (
            AttachmentFiles.at(settings, locations[0]),
            AttachmentFiles.at(settings, locations[1]),
        )
        if files[0].same_place(files[1]):
            await files[0].aclose()
            files = None  # both deployments read the same storage: nothing to copy
    counts = FileCounts()

    async def copy_files(owned: list[OwnedFile]) -> None:
        nonlocal counts
        assert files is not None
        counts += await files[1].copy_from(files[0], owned)

    try:
        with progress("copying", enabled=shows_progress(as_json)) as steps:
            try:
                report = await copy_database(
                    source, target, steps=steps, files=copy_files if files else None
                )
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                reason = getattr(exc, "orig", None) or exc
                fail(f"the copy stopped: {type(reason).__name__}: {reason}; run it again to resume")
    finally:
        if files is not None:
            await files[0].aclose()
            await files[1].aclose()
    places = (files[0].url, files[1].url) if files is not None else None
    return report, counts if files is not None else None, places


def _location(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    try:
        return storage_url(value)
    except ValueError as exc:
        raise TransferUsageError(f"{flag}: {exc}") from None


def _default_location(url: str, settings: Settings) -> str:
    """The attachment storage of the deployment whose store is ``url``."""
    configured = settings.resolved_database_url
    path = sqlite_file(parse_database_url(url))
    if path is None or (
        store_kind(configured) == "sqlite" and sqlite_file(parse_database_url(configured)) == path
    ):
        return settings.resolved_attachments_url
    return storage_url(path.parent / "attachments")


def _as_json(
    report: CopyReport, places: tuple[str, str] | None, counts: FileCounts | None
) -> dict[str, Any]:
    return {
        "from": report.source,
        "to": report.target,
        "target_revision_before": report.target_revision_before,
        "tables": [
            {
                "name": table.name,
                "source": table.source,
                "copied": table.copied,
                "present": table.present,
                "target": table.target,
            }
            for table in report.tables
        ],
        "files": None
        if counts is None or places is None
        else {
            "from": places[0],
            "to": places[1],
            "copied": counts.copied,
            "present": counts.present,
            "missing": counts.missing,
        },
        "verified": True,
    }


def _print(report: CopyReport, places: tuple[str, str] | None, counts: FileCounts | None) -> None:
    from rich.table import Table

    out = stdout_console()
    out.print(f"Copied {escape(report.source)} -> {escape(report.target)}")
    table = Table("table", "source", "copied", "already there", "target", box=None, pad_edge=False)
    for column in table.columns[1:]:
        column.justify = "right"
    for row in report.tables:
        table.add_row(row.name, str(row.source), str(row.copied), str(row.present), str(row.target))
    out.print(table)
    if counts is not None and places is not None:
        out.print(
            f"files: {counts.copied} copied, {counts.present} already there "
            f"({escape(places[0])} -> {escape(places[1])})"
        )
        if counts.missing:
            warn(
                f"{counts.missing} attachment(s) had no bytes in the source storage: their rows "
                "are copied, their downloads will answer 404"
            )
    else:
        out.print("files: not copied (same storage, or --no-files)")
    out.print("verified: every source row is in the target")
