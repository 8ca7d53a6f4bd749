"""``chatkit-backend import hosted``: copy threads from OpenAI's hosted ChatKit into the store.

    chatkit-backend import hosted --api-key K [--base-url URL] [--user U]... [--all-users]
        [--user-map FILE] [--since DATE] [--dry-run]

The threads land in the store of the settings (``--database-url``/``--data-dir`` override
them), owned by the hosted user ids or what ``--user-map`` maps them to. The work is done
by ``chatkit_backend.transfer.hosted``; see docs/migrating.md.
"""

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from chatkit_backend.cli.admin import DatabaseUrlOption, DataDirOption, admin_settings
from chatkit_backend.cli.output import (
    JsonOption,
    escape,
    fail,
    print_json,
    progress,
    shows_progress,
    stderr_console,
    stdout_console,
    warn,
)
from chatkit_backend.cli.output import run as run_async
from chatkit_backend.settings import Settings
from chatkit_backend.stores import BackendStore, migrations, store_from_settings
from chatkit_backend.stores.engine import store_kind

if TYPE_CHECKING:  # the import itself (openai, httpx) loads only when the command runs
    from chatkit_backend.transfer.hosted import ImportSummary

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_RETRIES = 6

app = typer.Typer(help="Bring data in from elsewhere.", no_args_is_help=True)


@app.command("hosted")
def import_hosted(
    api_key: str = typer.Option(
        ...,
        "--api-key",
        envvar="OPENAI_API_KEY",
        show_envvar=True,
        help="OpenAI API key of the project whose hosted ChatKit threads to copy.",
        show_default=False,
    ),
    base_url: str = typer.Option(
        DEFAULT_BASE_URL, "--base-url", help="OpenAI API base URL (for a proxy or a test server)."
    ),
    users: list[str] = typer.Option(
        [], "--user", "-u", help="Copy this hosted user's threads; repeat for several users."
    ),
    all_users: bool = typer.Option(False, "--all-users", help="Copy every user's threads."),
    user_map: Path | None = typer.Option(
        None,
        "--user-map",
        help='JSON file {"hosted user": "user id here"}; unmapped users keep their id. '
        "Alone, it selects the users it names.",
        show_default=False,
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only threads created at or after this date (2025-01-31 or 2025-01-31T12:00:00Z).",
        show_default=False,
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Read and convert everything, report what would be copied; write nothing.",
    ),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Copy hosted ChatKit (Agent Builder) threads and their items into the store."""
    mapping = _read_user_map(user_map) if user_map is not None else {}
    selected = _selected_users(users, all_users, mapping)
    cutoff = _parse_since(since) if since is not None else None
    if not api_key.strip():
        fail("--api-key must not be empty", code=2)
    settings = admin_settings(database_url, data_dir)
    from chatkit_backend.transfer.hosted import ImportSummary

    summary = ImportSummary(dry_run=dry_run)
    try:
        run_async(_run(settings, summary, api_key, base_url, selected, mapping, cutoff, as_json))
    except KeyboardInterrupt:
        summary.interrupted = "stopped by Ctrl-C"
    if as_json:
        print_json(summary.as_json())
    else:
        _print(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _read_user_map(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--user-map: cannot read {path}: {exc.strerror or exc}", code=2)
    except ValueError as exc:
        fail(f"--user-map: {path} is not JSON: {exc}", code=2)
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) and key and value
        for key, value in data.items()
    ):
        fail(
            f'--user-map: {path} must hold one JSON object of non-empty strings, {{"hosted user": "user id"}}',
            code=2,
        )
    return dict(data)


def _selected_users(users: list[str], all_users: bool, mapping: dict[str, str]) -> list[str] | None:
    """The hosted users to copy (None: all of them); exits 2 when the choice is unclear."""
    if all_users and users:
        fail("give --user or --all-users, not both", code=2)
    if all_users:
        return None
    if any(not user.strip() for user in users):
        fail("--user must not be empty", code=2)
    if users:
        return list(dict.fromkeys(users))
    if mapping:
        return list(mapping)
    fail(
        "say whose threads to copy: --user U (repeatable), --all-users, or --user-map FILE", code=2
    )


def _parse_since(text: str) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since: {text!r} is not a date; use 2025-01-31 or 2025-01-31T12:00:00Z", code=2)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _run(
    settings: Settings,
    summary: "ImportSummary",
    api_key: str,
    base_url: str,
    users: list[str] | None,
    mapping: dict[str, str],
    since: datetime | None,
    as_json: bool,
) -> "ImportSummary":
    """Import into the settings' store, filling ``summary`` as it goes (it stays valid when
    the run is interrupted)."""
    dry_run = summary.dry_run
    import httpx
    import openai

    from chatkit_backend.transfer.hosted import HostedImport
    from chatkit_backend.transfer.hosted.attachments import HostedAttachments

    store = await _target_store(settings, dry_run)
    files = None
    try:
        if settings.attachments and store is not None:
            from chatkit_backend.attachments import attachment_store_from_settings

            files = attachment_store_from_settings(settings, store)
        async with (
            openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, max_retries=MAX_RETRIES
            ) as client,
            httpx.AsyncClient(
                timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True
            ) as http,
        ):
            attachments = HostedAttachments(
                store,
                files,
                http,
                api_base_url=base_url,
                api_key=api_key,
                dry_run=dry_run,
                keep_bytes=settings.attachments,
            )
            job = HostedImport(client, store, attachments, user_map=mapping, summary=summary)
            show = shows_progress(as_json)
            with progress("listing hosted threads", enabled=show) as steps:
                threads = await job.list_threads(users, since)
            with progress("importing", total=len(threads), enabled=show) as steps:
                return await job.run(threads, steps)
    finally:
        if files is not None:
            await files.aclose()
        if store is not None:
            await store.close()


async def _target_store(settings: Settings, dry_run: bool) -> BackendStore | None:
    """The store to import into; for a dry run, only one that already exists at head."""
    url = settings.resolved_database_url
    if dry_run:
        if store_kind(url) == "memory" or migrations.current(url) != migrations.head():
            return None  # nothing there yet: everything would be copied
        store = store_from_settings(settings.model_copy(update={"db_auto_upgrade": False}))
    else:
        store = store_from_settings(settings)
    await store.open()
    return store


def _print(summary: "ImportSummary") -> None:
    out = stdout_console()
    if summary.dry_run:
        heading = "Dry run: nothing was written."
    elif summary.interrupted:
        heading = "The import stopped before the end; what it copied stays."
    else:
        heading = "Imported from hosted ChatKit."
    out.print(f"[bold]{heading}[/]")
    table = Table("", "count", box=None, pad_edge=False)
    table.columns[1].justify = "right"
    verb = "to copy" if summary.dry_run else "copied"
    rows: list[tuple[str, int]] = [
        ("threads found", summary.threads_found),
        ("threads new", summary.threads_new),
        ("threads with new items", summary.threads_updated),
        ("threads unchanged", summary.threads_unchanged),
        ("threads failed", summary.threads_failed),
        *((f"items {verb}: {kind}", count) for kind, count in sorted(summary.items.items())),
        *([] if summary.items else [(f"items {verb}", 0)]),
        ("items skipped (already here)", summary.items_present),
        *(
            (f"items not convertible: {escape(kind)}", count)
            for kind, count in sorted(summary.unconvertible.items())
        ),
        ("items failed", summary.items_failed),
        ("attachments with their bytes", summary.attachments_with_bytes),
        ("attachments with metadata only", summary.attachments_metadata_only),
    ]
    for label, count in rows:
        table.add_row(label, str(count))
    out.print(table)
    if summary.unconvertible:
        kinds = ", ".join(sorted(summary.unconvertible))
        warn(f"hosted item types this version does not convert were left out: {kinds}")
    for line in summary.warnings:
        warn(line)
    err = stderr_console()
    for line in summary.failures:
        err.print(f"[bold red]failed:[/] {escape(line)}")
    if summary.interrupted:
        err.print(
            f"[bold red]error:[/] {escape(summary.interrupted)}; what was copied stays: run "
            "the same command again to continue"
        )
