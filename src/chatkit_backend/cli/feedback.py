"""``chatkit-backend feedback``: the thumbs up and down users gave, read back.

    chatkit-backend feedback list [--kind positive|negative] [--since DATE] [--user U]
    chatkit-backend feedback export [--kind ...] [--since DATE] [--user U] [-o FILE]   # JSON lines

Each rated assistant message is shown with the user message before it and its thread
(``observability/feedback.py``). They read the store from the settings
(``--database-url``/``--data-dir`` override them), not a running server.
"""

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import typer

from chatkit_backend.cli.admin import DatabaseUrlOption, DataDirOption, admin_settings, opened_store
from chatkit_backend.cli.output import (
    JsonOption,
    escape,
    fail,
    print_json,
    print_json_line,
    stdout_console,
)
from chatkit_backend.cli.output import run as run_async
from chatkit_backend.settings import Settings
from chatkit_backend.stores.usage import FeedbackQuery

app = typer.Typer(
    help="Read back the feedback users gave: each rated assistant message with the user "
    "message before it.",
    no_args_is_help=True,
)

KindOption = typer.Option(None, "--kind", help="Only thumbs up (positive) or down (negative).")
SinceOption = typer.Option(
    None,
    "--since",
    help="Only feedback given at or after this time: 2025-01-31 (midnight UTC) or "
    "2025-01-31T12:00:00Z.",
    show_default=False,
)
UserOption = typer.Option(
    None, "--user", "-u", help="Only this user's feedback. Default: every user's."
)
TEXT_WIDTH = 200


def parse_moment(text: str, option: str) -> datetime:
    """``2025-01-31`` (midnight UTC) or an ISO 8601 time (``Z`` or an offset; naive is
    UTC), as an aware datetime; a bad value exits 2 naming ``option``."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option}: {text!r} is not a date: use 2025-01-31 or 2025-01-31T12:00:00Z", code=2)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _query(
    kind: str | None, since: str | None, user: str | None, limit: int | None
) -> FeedbackQuery:
    if kind is not None and kind not in ("positive", "negative"):
        fail(f"--kind: {kind!r} is not a kind of feedback: use positive or negative", code=2)
    return FeedbackQuery(
        user_id=user,
        kind=kind,  # type: ignore[arg-type]
        since=parse_moment(since, "--since") if since is not None else None,
        limit=limit,
    )


def _read(settings: Settings, query: FeedbackQuery) -> list[dict[str, object]]:
    from chatkit_backend.observability.feedback import rated_messages

    async def work() -> list[dict[str, object]]:
        async with opened_store(settings) as store:
            return [message.as_json() for message in await rated_messages(store, query)]

    return run_async(work())


def _short(text: str | None) -> str:
    if text is None:
        return "(none)"
    flat = " ".join(text.split())
    return flat if len(flat) <= TEXT_WIDTH else flat[: TEXT_WIDTH - 1] + "…"


@app.command("list")
def list_feedback(
    kind: str | None = KindOption,
    since: str | None = SinceOption,
    user: str | None = UserOption,
    limit: int = typer.Option(
        50, "--limit", min=1, help="Read at most this many feedback records, oldest first."
    ),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """List rated assistant messages, oldest first, with the user message before each."""
    query = _query(kind, since, user, limit)
    rows = _read(admin_settings(database_url, data_dir), query)
    if as_json:
        print_json(rows)
        return
    out = stdout_console()
    if not rows:
        out.print("No feedback.")
        return
    for row in rows:
        rated = datetime.fromisoformat(str(row["rated_at"]))
        kind = "[green]positive[/]" if row["kind"] == "positive" else "[red]negative[/]"
        out.print(
            f"[bold]{rated:%Y-%m-%d %H:%M}[/] {kind}  user {escape(str(row['user_id']))}  "
            f"thread {row['thread_id']}  item {row['item_id']}"
        )
        question = row["user_message"]
        out.print(
            f"  [dim]user:[/]      {escape(_short(None if question is None else str(question)))}"
        )
        out.print(f"  [dim]assistant:[/] {escape(_short(str(row['assistant'])))}")


@app.command("export")
def export_feedback(
    kind: str | None = KindOption,
    since: str | None = SinceOption,
    user: str | None = UserOption,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file instead of stdout."
    ),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Write every rated assistant message as JSON lines: rated_at, kind, user_id,
    thread_id, item_id, assistant, user_message_id, user_message."""
    rows = _read(admin_settings(database_url, data_dir), _query(kind, since, user, None))
    if output is None:
        for row in rows:
            print_json_line(row)
        sys.stdout.flush()
        return
    import json

    with output.open("w", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    stdout_console().print(f"wrote {len(rows)} rated message(s) to {escape(str(output))}")
