"""``chatkit-backend prune --older-than 30d``: the retention job.

A thread goes when its last activity (its newest item, else its creation) is older than
the cutoff: with its items, feedback, attachment rows and attachment files. A thread in
use is kept whole, however old its first message. Uploads never sent in a message and
older than the cutoff go too, with their files. ``--dry-run`` shows what would go.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from chatkit_backend.cli.admin import (
    DatabaseUrlOption,
    DataDirOption,
    admin_settings,
    delete_thread,
    last_activity,
    opened_attachments,
    opened_store,
    owned_threads,
)
from chatkit_backend.cli.durations import DURATION_HINT, parse_seconds
from chatkit_backend.cli.output import (
    JsonOption,
    Steps,
    print_json,
    progress,
    shows_progress,
    stdout_console,
)
from chatkit_backend.cli.output import run as run_async
from chatkit_backend.settings import Settings


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``15m``, ``90s``, ``2w`` or a sum such as ``1d12h``; above zero."""
    seconds = parse_seconds(text)
    if seconds is None:
        raise ValueError(f"{text!r} is not a duration: use {DURATION_HINT}")
    if seconds <= 0:
        raise ValueError(f"{text!r} is zero: give a duration above 0")
    return timedelta(seconds=seconds)


def _duration_option(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


@dataclass
class PruneReport:
    """What a prune removed (or, with ``--dry-run``, would remove)."""

    cutoff: datetime
    dry_run: bool
    threads: list[dict[str, Any]] = field(default_factory=list)
    kept_active: int = 0
    stale_attachments: list[str] = field(default_factory=list)
    temp_files: int = 0

    @property
    def files(self) -> int:
        return sum(int(row.get("files", 0)) for row in self.threads)


def prune(
    older_than: str = typer.Option(
        ...,
        "--older-than",
        callback=_duration_option,
        help="Age cutoff: 30d, 12h, 15m, 90s, 2w, or sums like 1d12h.",
    ),
    user: str | None = typer.Option(
        None, "--user", "-u", help="Only this user's threads (unsent uploads are kept)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be deleted; delete nothing."
    ),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete threads, items and attachment files older than a cutoff (retention)."""
    settings = admin_settings(database_url, data_dir)
    cutoff = datetime.now(UTC) - parse_duration(older_than)
    with progress("pruning", enabled=shows_progress(as_json)) as steps:
        report = run_async(_prune(settings, cutoff, user, dry_run, steps))
    if as_json:
        print_json(
            {
                "cutoff": report.cutoff,
                "dry_run": report.dry_run,
                "threads": report.threads,
                "kept_active": report.kept_active,
                "files": report.files,
                "stale_attachments": report.stale_attachments,
                "temp_files": report.temp_files,
            }
        )
        return
    _render(report, older_than)


async def _prune(
    settings: Settings, cutoff: datetime, user: str | None, dry_run: bool, steps: Steps
) -> PruneReport:
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    async with opened_store(settings) as store, opened_attachments(settings, store) as files:
        async for batch in owned_threads(store, user, created_before=cutoff):
            for owned in batch:
                if await last_activity(store, owned) >= cutoff:
                    report.kept_active += 1
                    continue
                if dry_run:
                    count = (
                        await files.thread_object_count(owned.thread.id, _context(owned.user_id))
                        if files
                        else 0
                    )
                    report.threads.append(
                        {"user_id": owned.user_id, "thread_id": owned.thread.id, "files": count}
                    )
                else:
                    deleted = await delete_thread(store, files, owned.user_id, owned.thread.id)
                    report.threads.append(
                        {
                            "user_id": deleted.user_id,
                            "thread_id": deleted.thread_id,
                            "files": deleted.files,
                        }
                    )
                steps.advance()
                steps.describe(f"pruning: {len(report.threads)} threads")
        if user is None:
            if dry_run:
                stale = await store.admin_stale_attachments(cutoff)
                report.stale_attachments = [owned.attachment.id for owned in stale]
            elif files is not None:
                result = await files.prune_stale(cutoff)
                report.stale_attachments = list(result.attachments)
                report.temp_files = result.temp_files
    return report


def _context(user_id: str) -> Any:
    from chatkit_backend.context import RequestContext

    return RequestContext(user_id=user_id)


def _render(report: PruneReport, older_than: str) -> None:
    out = stdout_console()
    verb = "Would delete" if report.dry_run else "Deleted"
    threads = len(report.threads)
    out.print(
        f"{verb} {threads} thread{'s' if threads != 1 else ''} inactive for over {older_than} "
        f"(before {report.cutoff:%Y-%m-%d %H:%M} UTC), with {report.files} attachment "
        f"file{'s' if report.files != 1 else ''}."
    )
    stale = len(report.stale_attachments)
    line = f"{verb} {stale} upload{'s' if stale != 1 else ''} never sent in a message"
    if not report.dry_run:
        line += f", and {report.temp_files} unfinished upload file{'s' if report.temp_files != 1 else ''}"
    out.print(line + ".")
    if report.kept_active:
        out.print(
            f"Kept {report.kept_active} older thread{'s' if report.kept_active != 1 else ''} still in use."
        )
