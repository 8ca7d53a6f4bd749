"""``chatkit-backend attachments``: maintenance of attachment files."""

import re

import typer

from chatkit_backend.attachments.local import PruneResult
from chatkit_backend.cli.output import JSON_HELP, fail, print_json, run, stdout_console
from chatkit_backend.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="Manage attachment files: remove uploads that were never sent in a message.",
    no_args_is_help=True,
)

DURATION_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> int | None:
    """``90``, ``90s``, ``30m``, ``24h`` or ``7d`` as seconds; None when malformed."""
    match = DURATION_PATTERN.match(text.lower())
    if match is None:
        return None
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


@app.command("prune")
def prune(
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        metavar="DURATION",
        help="Remove uploads never sent in a message and older than this (e.g. 3600, 30m, 24h, 7d). "
        "Default: CHATKIT_ATTACHMENT_TTL.",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Remove stale uploads (files and rows) and partial uploads left by interrupted requests."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        fail(str(exc))
    seconds = settings.attachment_ttl if older_than is None else parse_duration(older_than)
    if seconds is None:
        fail(f"--older-than: {older_than!r} is not a duration: use seconds, or a number with s, m, h or d", code=2)
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


async def _prune(settings: Settings, seconds: int) -> PruneResult:
    from chatkit_backend.attachments.prune import prune as prune_uploads
    from chatkit_backend.stores import store_from_settings

    store = store_from_settings(settings)
    await store.open()
    try:
        return await prune_uploads(settings, store, older_than=seconds)
    finally:
        await store.close()
