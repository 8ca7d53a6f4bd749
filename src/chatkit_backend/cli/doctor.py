"""``chatkit-backend doctor``: check a project (ours or yours) and print each finding with its fix.

    chatkit-backend doctor                                 # this package's app
    chatkit-backend doctor mypackage.server:create_app    # your app or factory
    chatkit-backend doctor --url http://127.0.0.1:8000/chatkit     # a running server only

Exit status: 0 when nothing is wrong (warnings allowed, unless ``--strict``), 1 when a
check found a problem, 2 for a bad option or setting.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.table import Table

from chatkit_backend.cli.doctor_checks import (
    DEFAULT_TARGET,
    Finding,
    check_attachments,
    check_cors,
    check_mcp,
    check_model,
    check_parameters,
    check_routes,
    check_store,
    load_app,
)
from chatkit_backend.cli.doctor_live import check_preflight, check_threads_list
from chatkit_backend.cli.output import (
    JsonOption,
    Steps,
    escape,
    print_json,
    progress,
    shows_progress,
    stdout_console,
)
from chatkit_backend.client.urls import DEFAULT_PATH, Endpoint, split_endpoint
from chatkit_backend.settings import load_settings

MARKS = {
    "ok": "[green]✓[/]",
    "warning": "[yellow]![/]",
    "problem": "[bold red]✗[/]",
    "skipped": "[dim]-[/]",
}


def doctor(
    target: str | None = typer.Argument(
        None,
        help=f"The app or its factory as module:attribute. Default: {DEFAULT_TARGET} "
        "(none when only --url is given).",
        show_default=False,
    ),
    url: str | None = typer.Option(
        None,
        "--url",
        help="Also check a running server: the ChatKit endpoint's URL "
        "(http://127.0.0.1:8000/chatkit) or the server's base URL.",
    ),
    path: str | None = typer.Option(
        None,
        "--path",
        help="Path of the ChatKit endpoint. Default: CHATKIT_PATH for chatkit-backend's own "
        "app, else the path of --url when it has one, else /chatkit.",
        show_default=False,
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="CHATKIT_API_KEY", help="API key for the --url checks."
    ),
    origin: str = typer.Option(
        "http://localhost:3000", "--origin", help="Browser origin of the --url preflight."
    ),
    no_model: bool = typer.Option(
        False, "--no-model", help="Skip the model probe (no request to the model)."
    ),
    app_dir: Path | None = typer.Option(
        None, "--app-dir", help="Folder to import the target from. Default: the current folder."
    ),
    timeout: float = typer.Option(
        20.0, "--timeout", min=0.1, help="Seconds allowed for each network check."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit non-zero on warnings too."),
    verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Show details (route list) of passing checks."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Check that an app imports, routes and CORS are right, the store and model answer."""
    endpoint = _endpoint(url, path)
    if target is None and url is None:
        target = DEFAULT_TARGET
    route_path = _route_path(target, url, path)
    with progress("checking", enabled=shows_progress(as_json)) as steps:
        findings = asyncio.run(
            _run(target, endpoint, route_path, api_key, origin, no_model, app_dir, timeout, steps)
        )
    failed = any(f.status == "problem" or (strict and f.status == "warning") for f in findings)
    if as_json:
        print_json(
            {
                "target": target,
                "url": url,
                "ok": not failed,
                "counts": _counts(findings),
                "findings": [asdict(finding) for finding in findings],
            }
        )
    else:
        _render(target, url, findings, verbose)
    raise typer.Exit(1 if failed else 0)


def _endpoint(url: str | None, path: str | None) -> Endpoint | None:
    """The live endpoint of ``--url``/``--path``; a URL that is not one is a usage error (2)."""
    if url is None:
        return None
    try:
        return split_endpoint(url, path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--url'") from None


def _route_path(target: str | None, url: str | None, path: str | None) -> str:
    """Where the app should serve the ChatKit endpoint (the routes check)."""
    if path is not None:
        return "/" + path.strip("/")
    if target == DEFAULT_TARGET:
        return load_settings().path  # our own app: CHATKIT_PATH (a bad setting exits 2)
    if url is not None and urlsplit(url.strip()).path.strip("/"):
        return split_endpoint(url).path
    return DEFAULT_PATH


async def _run(
    target: str | None,
    endpoint: Endpoint | None,
    path: str,
    api_key: str | None,
    origin: str,
    no_model: bool,
    app_dir: Path | None,
    seconds: float,
    steps: Steps,
) -> list[Finding]:
    findings: list[Finding] = []

    async def step(label: str, check: Callable[[], Awaitable[list[Finding]]]) -> None:
        steps.describe(f"checking {label}")
        findings.extend(await check())
        steps.advance()

    steps.total((8 if target else 0) + (2 if endpoint else 0))
    if target:
        steps.describe("importing the app")
        loaded = load_app(target, app_dir)
        findings.append(loaded.finding)
        steps.advance()
        app = loaded.app
        if app is None:
            for name in ("routes", "parameters", "cors", "store", "attachments", "model"):
                findings.append(Finding(name, "skipped", "the app did not load"))
        else:
            await step("routes", _now(lambda: [check_routes(app, path)]))
            await step("parameters", _now(lambda: check_parameters(app)))
            await step("CORS", _now(lambda: check_cors(app)))
            await step("the store", lambda: _one(check_store(app, seconds)))
            await step("the attachment storage", lambda: check_attachments(app, seconds))
            await step("the MCP servers", lambda: check_mcp(app, seconds))
            if no_model:
                await _close_responder(app)
                findings.append(Finding("model", "skipped", "--no-model"))
                steps.advance()
            else:
                await step("the model", lambda: _one(check_model(app, seconds)))
    if endpoint is not None:
        await step(
            "the live endpoint", lambda: _one(check_threads_list(endpoint, api_key, seconds))
        )
        await step("the preflight", lambda: _one(check_preflight(endpoint, origin, seconds)))
    return findings


def _now(check: Callable[[], list[Finding]]) -> Callable[[], Awaitable[list[Finding]]]:
    async def run() -> list[Finding]:
        return check()

    return run


async def _one(finding: Awaitable[Finding]) -> list[Finding]:
    return [await finding]


async def _close_responder(app: object) -> None:
    responder = getattr(getattr(app, "state", None), "responder", None)
    if responder is not None and hasattr(responder, "aclose"):
        await responder.aclose()


def _counts(findings: list[Finding]) -> dict[str, int]:
    counts = {"ok": 0, "warning": 0, "problem": 0, "skipped": 0}
    for finding in findings:
        counts[finding.status] += 1
    return counts


def _render(target: str | None, url: str | None, findings: list[Finding], verbose: bool) -> None:
    """One finding per entry; on a terminal, long lines wrap inside their column."""
    out = stdout_console()
    subjects = [s for s in (target, url) if s]
    out.print(f"[bold]chatkit-backend doctor[/]: {escape(' and '.join(subjects))}")
    if out.is_terminal:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for finding in findings:
            grid.add_row(
                MARKS[finding.status],
                f"[bold]{finding.check}[/]",
                "\n".join(_lines(finding, verbose)),
            )
        out.print(grid)
    else:
        for finding in findings:
            first, *rest = _lines(finding, verbose)
            out.print(f" {MARKS[finding.status]} [bold]{finding.check:<10}[/] {first}")
            for line in rest:
                out.print(f"   {'':<10} {line}")
    out.print(_summary(findings))


def _lines(finding: Finding, verbose: bool) -> list[str]:
    """The finding's message, place, fix and (for problems, or with -v) details, as markup."""
    lines = [escape(finding.message)]
    if finding.location:
        lines.append(f"at {escape(finding.location)}")
    if finding.fix and finding.status in ("problem", "warning"):
        lines.append(f"[cyan]fix:[/] {escape(finding.fix)}")
    if finding.details and (verbose or finding.status == "problem"):
        lines.extend(f"[dim]{escape(line)}[/]" for line in finding.details.splitlines())
    return lines


def _summary(findings: list[Finding]) -> str:
    counts = _counts(findings)
    if not counts["problem"] and not counts["warning"]:
        return "[green]All checks passed.[/]"
    problems = f"{counts['problem']} problem{'s' if counts['problem'] != 1 else ''}"
    warnings = f"{counts['warning']} warning{'s' if counts['warning'] != 1 else ''}"
    return f"{problems}, {warnings}."
