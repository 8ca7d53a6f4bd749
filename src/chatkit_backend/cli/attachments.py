"""``chatkit-backend attachments``: maintenance of attachment files."""

from typing import TYPE_CHECKING

import typer

from chatkit_backend.cli.durations import DURATION_HINT, parse_seconds
from chatkit_backend.cli.output import JsonOption, fail, print_json, run, stdout_console
from chatkit_backend.settings import Settings, load_settings

if TYPE_CHECKING:
    from chatkit_backend.attachments import PruneResult

app = typer.Typer(
    help="Manage attachment files: remove uploads that were never sent in a message.",
    no_args_is_help=True,
)


@app.command("prune")
def prune(
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        metavar="DURATION",
        help="Remove uploads never sent in a message and older than this (e.g. 3600, 30m, 24h, 7d). "
        "Default: CHATKIT_ATTACHMENT_TTL.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Remove stale uploads (files and rows) and partial uploads left by interrupted requests."""
    settings = load_settings()  # a bad setting exits 2 (cli.main)
    seconds = (
        settings.attachment_ttl
        if older_than is None
        else parse_seconds(older_than, bare_seconds=True)
    )
    if seconds is None:
        fail(
            f"--older-than: {older_than!r} is not a duration: use seconds, or {DURATION_HINT}",
            code=2,
        )
    result = run(_prune(settings, seconds))
    if as_json:
        print_json(
            {
                "pruned": len(result.attachments),
                "attachment_ids": result.attachments,
                "partial_uploads": result.temp_files,
                "older_than_seconds": seconds,
            }
        )
        return
    stdout_console().print(
        f"pruned {len(result.attachments)} stale upload(s) older than {seconds}s "
        f"and {result.temp_files} partial upload(s)"
    )


async def _prune(settings: Settings, seconds: int) -> "PruneResult":
    from chatkit_backend.attachments.prune import prune as prune_uploads
    from chatkit_backend.cli.admin import refuse_missing_database
    from chatkit_backend.stores import store_from_settings

    refuse_missing_database(settings)  # nothing to prune; never leave an empty database
    store = store_from_settings(settings)
    await store.open()
    try:
        return await prune_uploads(settings, store, older_than=seconds)
    finally:
        await store.close()
