"""``chatkit-backend chat``: talk to any ChatKit backend from a terminal.

Interactive by default: the reply streams in as it arrives, and lines starting with ``/``
are commands (``/help`` lists them). With ``-m TEXT`` it sends one message, prints the
reply on stdout and exits: 0 on success, 1 with the error on stderr otherwise.
"""

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import typer
from chatkit.types import (
    AssistantMessageItem,
    ClientToolCallItem,
    NoticeEvent,
    ProgressUpdateEvent,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)
from rich.console import Console
from rich.table import Table

from chatkit_backend.cli.output import (
    JSON_HELP,
    escape,
    print_json,
    stderr_console,
    stdout_console,
)
from chatkit_backend.client import ChatKitClient, ChatKitError, StreamError, collect

DEFAULT_URL = "http://127.0.0.1:8000"
PROMPT = "you> "
HELP_TEXT = """\
Commands:
  /new            start a new thread (your next message opens it)
  /threads        list your threads, newest first
  /switch <id>    continue an existing thread
  /history        show the current thread's messages
  /thread         show the current thread's id
  /help           show this help
  /quit           leave (Ctrl-D works too)
Anything else is sent as a message. Ctrl-C stops a reply that is streaming."""


def chat(
    url: str = typer.Option(
        DEFAULT_URL,
        "--url",
        envvar="CHATKIT_URL",
        help="The ChatKit endpoint's URL, as a front end's api.url holds it "
        "(http://127.0.0.1:8000/chatkit), or the server's base URL (the endpoint is then at "
        "--path). Also read from CHATKIT_URL.",
    ),
    path: str | None = typer.Option(
        None,
        "--path",
        help="Path of the ChatKit endpoint under a base --url. Default: /chatkit, or the path "
        "of --url when it has one.",
        show_default=False,
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="CHATKIT_API_KEY", help="API key, sent as a bearer token."
    ),
    thread: str | None = typer.Option(
        None, "--thread", help="Continue this thread instead of starting one."
    ),
    message: str | None = typer.Option(
        None, "-m", "--message", help="Send one message, print the reply and exit (for scripts)."
    ),
    timeout: float = typer.Option(
        120.0, "--timeout", min=1.0, help="Seconds to wait for the server."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP + " With -m: thread_id and text."),
) -> None:
    """Chat with a ChatKit backend in the terminal, or send one message with -m."""
    client = open_client(url, path, api_key=api_key, timeout=timeout)
    if message is not None:
        code = asyncio.run(_one_shot(client, message, thread, as_json))
        raise typer.Exit(code)
    _interactive(client, thread)


def open_client(url: str, path: str | None, **options: Any) -> ChatKitClient:
    """A client for ``--url`` and ``--path``; a URL that is not one is a usage error (exit 2)."""
    try:
        return ChatKitClient(url, path=path, **options)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--url'") from None


# -- one message ---------------------------------------------------------------------------
async def _one_shot(client: ChatKitClient, text: str, thread_id: str | None, as_json: bool) -> int:
    streamed: list[str] = []

    def on_text(delta: str) -> None:
        streamed.append(delta)
        if not as_json:
            sys.stdout.write(delta)
            sys.stdout.flush()

    try:
        async with client:
            reply = await client.send(text, thread_id, on_text=on_text)
    except ChatKitError as exc:
        if streamed and not as_json:
            sys.stdout.write("\n")
        stderr_console().print(f"[bold red]error:[/] {escape(_describe(exc))}")
        return 1
    if as_json:
        print_json({"thread_id": reply.thread_id, "text": reply.text, "title": reply.title})
    elif streamed:
        sys.stdout.write("\n")
    else:
        sys.stdout.write(reply.text + "\n")
    sys.stdout.flush()
    return 0


def _describe(exc: ChatKitError) -> str:
    text = str(exc)
    if isinstance(exc, StreamError) and exc.allow_retry:
        text += " (the server says a retry may work)"
    if exc.request_id:
        text += f" (request id {exc.request_id})"
    return text


# -- interactive -----------------------------------------------------------------------------
@dataclass
class Session:
    """The interactive chat's state: the client and the current thread."""

    client: ChatKitClient
    out: Console
    thread_id: str | None = None


def _interactive(client: ChatKitClient, thread_id: str | None) -> None:
    out = stdout_console()
    session = Session(client, out, thread_id)
    out.print(
        f"[bold]chatkit-backend chat[/] — {escape(client.endpoint)}. Type /help for commands."
    )
    with asyncio.Runner() as runner:
        try:
            if thread_id:
                try:
                    runner.run(_switch(session, thread_id))
                except ChatKitError as exc:
                    stderr_console().print(f"[bold red]error:[/] {escape(_describe(exc))}")
                    raise typer.Exit(1) from None
            while True:
                try:
                    line = input(PROMPT)
                except EOFError:
                    out.print()
                    break
                except KeyboardInterrupt:
                    out.print()
                    continue
                line = line.strip()
                if not line:
                    continue
                if line.startswith("/"):
                    if not _command(session, runner, line):
                        break
                    continue
                _run_turn(session, runner, line)
        finally:
            runner.run(client.aclose())


def _run_turn(session: Session, runner: asyncio.Runner, text: str) -> None:
    try:
        runner.run(_turn(session, text))
    except KeyboardInterrupt:
        session.out.print("\n[yellow](stopped)[/]")
    except ChatKitError as exc:
        session.out.print(f"\n[bold red]error:[/] {escape(_describe(exc))}")


def _command(session: Session, runner: asyncio.Runner, line: str) -> bool:
    """Run a ``/`` command; False means leave."""
    name, _, argument = line.partition(" ")
    argument = argument.strip()
    actions: dict[str, Callable[[], None]] = {
        "/help": lambda: session.out.print(HELP_TEXT, markup=False),
        "/new": lambda: _new(session),
        "/thread": lambda: session.out.print(session.thread_id or "(no thread yet)"),
        "/threads": lambda: runner.run(_threads(session)),
        "/history": lambda: runner.run(_history(session)),
        "/switch": lambda: (
            runner.run(_switch(session, argument))
            if argument
            else session.out.print("usage: /switch <thread id>")
        ),
    }
    if name in ("/quit", "/exit"):
        return False
    action = actions.get(name)
    if action is None:
        session.out.print(f"unknown command {escape(name)}; /help lists the commands")
        return True
    try:
        action()
    except ChatKitError as exc:
        session.out.print(f"[bold red]error:[/] {escape(_describe(exc))}")
    except KeyboardInterrupt:
        session.out.print("[yellow](stopped)[/]")
    return True


def _new(session: Session) -> None:
    session.thread_id = None
    session.out.print("New thread: your next message starts it.")


async def _turn(session: Session, text: str) -> None:
    """Send one message and stream the reply onto the terminal as it arrives."""
    out = session.out
    client = session.client
    events = (
        client.create_thread(text)
        if session.thread_id is None
        else client.add_user_message(session.thread_id, text)
    )
    started = False

    def on_text(delta: str) -> None:
        nonlocal started
        if not started:
            out.print("[bold cyan]assistant>[/] ", end="")
            started = True
        out.print(delta, end="", markup=False, highlight=False)
        out.file.flush()

    try:
        reply = await collect(_tap(events, session), thread_id=session.thread_id, on_text=on_text)
    finally:
        if started:
            out.print()
    if not started and reply.text:
        out.print(f"[bold cyan]assistant>[/] {escape(reply.text)}")


async def _tap(
    events: AsyncIterator[ThreadStreamEvent], session: Session
) -> AsyncIterator[ThreadStreamEvent]:
    """Pass events through: note a new thread at once (so Ctrl-C keeps it), show progress and notices."""
    out = session.out
    try:
        async for event in events:
            if isinstance(event, ThreadCreatedEvent):
                session.thread_id = event.thread.id
                out.print(f"[dim](thread {escape(event.thread.id)})[/]")
            elif isinstance(event, ProgressUpdateEvent):
                out.print(f"[dim]… {escape(event.text)}[/]")
            elif isinstance(event, NoticeEvent):
                out.print(
                    f"[yellow]{escape(event.title or event.level)}:[/] {escape(event.message)}"
                )
            yield event  # collect() raises an ErrorEvent as StreamError
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def _threads(session: Session) -> None:
    page = await session.client.list_threads(limit=20)
    if not page.data:
        session.out.print("No threads yet.")
        return
    table = Table("", "id", "title", "created", box=None, pad_edge=False)
    for thread in page.data:
        marker = "*" if thread.id == session.thread_id else ""
        table.add_row(
            marker,
            thread.id,
            escape(thread.title or "(untitled)"),
            thread.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    session.out.print(table)
    if page.has_more:
        session.out.print("[dim](showing the 20 newest)[/]")


async def _switch(session: Session, thread_id: str) -> None:
    thread = await session.client.get_thread(thread_id)
    session.thread_id = thread.id
    session.out.print(f"Switched to {escape(thread.id)}: {escape(thread.title or '(untitled)')}")


async def _history(session: Session) -> None:
    if session.thread_id is None:
        session.out.print("No thread yet: send a message, or /switch <id>.")
        return
    after: str | None = None
    while True:
        page = await session.client.list_items(
            session.thread_id, limit=100, after=after, order="asc"
        )
        for item in page.data:
            line = describe_item(item)
            if line:
                session.out.print(line)
        if not page.has_more or page.after is None:
            break
        after = page.after


def item_text(item: ThreadItem) -> str:
    """The plain text of a user or assistant message (empty for other items)."""
    if isinstance(item, UserMessageItem):
        return "".join(
            part.text for part in item.content if isinstance(part, UserMessageTextContent)
        )
    if isinstance(item, AssistantMessageItem):
        return "".join(part.text for part in item.content)
    return ""


def describe_item(item: ThreadItem) -> str:
    """One rich line for an item in ``/history``."""
    if isinstance(item, UserMessageItem):
        files = f" [dim]({len(item.attachments)} attachment(s))[/]" if item.attachments else ""
        return f"[bold green]you>[/] {escape(item_text(item))}{files}"
    if isinstance(item, AssistantMessageItem):
        return f"[bold cyan]assistant>[/] {escape(item_text(item))}"
    if isinstance(item, ClientToolCallItem):
        return f"[dim]tool call {escape(item.name)} ({item.status})[/]"
    if isinstance(item, WidgetItem):
        return "[dim](widget)[/]"
    return ""
