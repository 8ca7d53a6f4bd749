"""``chatkit-backend usage``: the model tokens replies used, per day, user and model.

    chatkit-backend usage [--user U] [--tenant T] [--since DATE] [--until DATE] [--by day,user,model]

It adds up the usage the server recorded with each reply (``chatkit_usage``; see
docs/observability.md), from the store in the settings (``--database-url``/``--data-dir``
override them), not a running server. Days are UTC.
"""

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from chatkit_backend.cli.admin import DatabaseUrlOption, DataDirOption, admin_settings, opened_store
from chatkit_backend.cli.output import (
    JsonOption,
    escape,
    fail,
    print_json,
    print_table,
    stdout_console,
)
from chatkit_backend.cli.output import run as run_async
from chatkit_backend.stores.usage import USAGE_KEYS, UsageKey, UsageQuery, UsageTotal

COLUMNS = ("replies", "requests", "input", "cached", "output", "reasoning", "total")


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option}: {text!r} is not a day: use 2025-01-31 (UTC)", code=2)


def _keys(text: str) -> tuple[UsageKey, ...]:
    keys = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [key for key in keys if key not in USAGE_KEYS]
    if unknown:
        fail(
            f"--by: cannot group by {unknown[0]!r}: use any of {', '.join(USAGE_KEYS)}, "
            "comma-separated",
            code=2,
        )
    return tuple(dict.fromkeys(keys))  # type: ignore[arg-type]


def _row(total: UsageTotal, by: tuple[UsageKey, ...]) -> dict[str, Any]:
    keys = {
        "day": total.day,
        "user": total.user_id,
        "tenant": total.tenant_id,
        "model": total.model,
    }
    return {
        **{key: keys[key] for key in by},
        "replies": total.replies,
        "requests": total.requests,
        "input_tokens": total.input_tokens,
        "cached_tokens": total.cached_tokens,
        "output_tokens": total.output_tokens,
        "reasoning_tokens": total.reasoning_tokens,
        "total_tokens": total.total_tokens,
    }


def usage(
    user: str | None = typer.Option(None, "--user", "-u", help="Only this user's replies."),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's replies."),
    since: str | None = typer.Option(
        None, "--since", help="From this UTC day on (2025-01-31).", show_default=False
    ),
    until: str | None = typer.Option(
        None, "--until", help="Up to this UTC day, included.", show_default=False
    ),
    by: str = typer.Option(
        "day,user,model",
        "--by",
        help="Group by these, comma-separated: day, user, tenant, model. An empty value "
        "gives one grand total.",
    ),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Show the model tokens replies used (input, cached, output, reasoning), added up."""
    keys = _keys(by)
    query = UsageQuery(
        by=keys,
        user_id=user,
        tenant_id=tenant,
        since=_day(since, "--since"),
        until=_day(until, "--until"),
    )
    settings = admin_settings(database_url, data_dir)

    async def work() -> list[UsageTotal]:
        async with opened_store(settings) as store:
            return await store.admin_usage(query)

    try:
        totals = run_async(work())
    except NotImplementedError as exc:
        fail(str(exc))
    rows = [_row(total, keys) for total in totals]
    if as_json:
        print_json(rows)
        return
    out = stdout_console()
    if not rows:
        out.print("No usage recorded.")
        return
    table = Table(*keys, *COLUMNS, box=None, pad_edge=False)
    for column in table.columns:
        column.no_wrap = True
    for column in table.columns[len(keys) :]:
        column.justify = "right"
    for row in rows:
        table.add_row(
            *(escape(str(row[key]) if row[key] is not None else "-") for key in keys),
            *(
                f"{row[name]:,}"
                for name in (
                    "replies",
                    "requests",
                    "input_tokens",
                    "cached_tokens",
                    "output_tokens",
                    "reasoning_tokens",
                    "total_tokens",
                )
            ),
        )
    print_table(table)
