"""MCP servers from ``CHATKIT_TOOLS``: connected once per process, kept connected.

Each ``{"type": "mcp", ...}`` entry becomes the Agents SDK's ``MCPServerStreamableHttp``
(``url``, with ``headers``) or ``MCPServerStdio`` (``command``), wrapped in a
``ManagedMCPServer`` that the agent carries in ``Agent.mcp_servers``:

- ``McpServers.start`` connects every server when the app starts (a server that is down
  is logged, not fatal: it is retried when a reply needs it); ``close`` disconnects them
  on shutdown. Connecting and disconnecting happen in one task per server (the MCP SDK's
  transports must be closed by the task that opened them).
- Each reply lists the server's tools. When that fails (the server restarted, the
  process died, the network dropped), the server is reconnected, at most once every
  ``RECONNECT_INTERVAL`` seconds, and the tools it listed last are offered meanwhile.
- A tool call that fails reaches the model as the tool's error output (the SDK's
  ``failure_error_function``), never as a failed reply; a failure of the connection
  also schedules a reconnection for the next call.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from agents import Agent
from agents.mcp import MCPServer, MCPServerStdio, MCPServerStreamableHttp, create_static_tool_filter
from agents.run_context import RunContextWrapper
from mcp.shared import exceptions as mcp_exceptions
from mcp.types import CallToolResult, GetPromptResult, ListPromptsResult
from mcp.types import Tool as MCPTool

from chatkit_backend.agent_config import McpEntry

logger = logging.getLogger("chatkit_backend.responder")

MCPError: type[Exception] = vars(mcp_exceptions).get("MCPError") or vars(mcp_exceptions)["McpError"]
"""An error the server answered with (mcp 2 names it ``MCPError``, mcp 1 ``McpError``)."""
RECONNECT_INTERVAL = 2.0
"""Seconds between two attempts to reconnect a server that is down."""
CLOSE_TIMEOUT = 10.0


def describe_entry(entry: McpEntry) -> str:
    """``docs (http://host:9000/mcp)``: the URL without credentials, query or fragment, or
    the command's program."""
    if entry.url is not None:
        parts = urlsplit(entry.url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return f"{entry.name} ({parts.scheme}://{host}{parts.path})"
    assert entry.command is not None
    return f"{entry.name} (stdio: {entry.command[0]})"


def transport_server(entry: McpEntry) -> MCPServer:
    """The Agents SDK server for an entry (not connected)."""
    tool_filter = create_static_tool_filter(allowed_tool_names=entry.allowed_tools)
    if entry.url is not None:
        return MCPServerStreamableHttp(
            {"url": entry.url, "headers": dict(entry.headers), "timeout": entry.timeout},
            name=entry.name,
            client_session_timeout_seconds=entry.timeout,
            tool_filter=tool_filter,
        )
    assert entry.command is not None
    params: dict[str, Any] = {"command": entry.command[0], "args": list(entry.command[1:])}
    if entry.env is not None:
        params["env"] = dict(entry.env)
    if entry.cwd is not None:
        params["cwd"] = entry.cwd
    return MCPServerStdio(
        params,  # type: ignore[arg-type]
        name=entry.name,
        client_session_timeout_seconds=entry.timeout,
        tool_filter=tool_filter,
    )


class Connection:
    """Connects and disconnects one server from a task of its own, on request."""

    def __init__(self, server: MCPServer, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self.connected = False
        self.last_error: BaseException | None = None
        self.last_attempt = float("-inf")
        self.generation = 0
        """Incremented by every successful (re)connection."""
        self._commands: asyncio.Queue[tuple[str, asyncio.Future[None]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None

    async def connect(self) -> bool:
        """(Re)connect now; True when connected. Failures are logged, never raised."""
        self.last_attempt = time.monotonic()
        try:
            await self._submit("connect")
        except Exception as exc:
            self.connected = False
            self.last_error = exc
            logger.warning(
                "MCP server %s is not reachable: %s: %s",
                self.server.name,
                type(exc).__name__,
                _one_line(exc),
            )
            return False
        self.connected = True
        self.last_error = None
        self.generation += 1
        return True

    async def reconnect(self, seen_generation: int) -> bool:
        """Reconnect after a failure seen at ``seen_generation``, unless another caller did it
        meanwhile or the last attempt was less than ``RECONNECT_INTERVAL`` seconds ago."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.generation != seen_generation and self.connected:
                return True  # someone reconnected while we waited
            if time.monotonic() - self.last_attempt < RECONNECT_INTERVAL:
                return self.connected and self.generation != seen_generation
            logger.info("reconnecting MCP server %s", self.server.name)
            return await self.connect()

    def mark_broken(self) -> None:
        self.connected = False

    async def close(self) -> None:
        """Disconnect and end the connection's task."""
        task = self._task
        if task is None or task.done():
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._submit("close")
        except Exception as exc:
            logger.warning("closing MCP server %s failed: %s", self.server.name, _one_line(exc))
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            self._task = None
            self._commands = None
            self.connected = False

    async def _submit(self, action: str) -> None:
        if self._task is None or self._task.done():
            self._commands = asyncio.Queue()
            self._task = asyncio.create_task(self._run(), name=f"mcp:{self.server.name}")
        assert self._commands is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._commands.put((action, done))
        await done

    async def _run(self) -> None:
        assert self._commands is not None
        commands = self._commands
        opened = False
        while True:
            action, done = await commands.get()
            try:
                if opened:
                    opened = False
                    await self._cleanup()
                if action == "close":
                    done.set_result(None)
                    return
                async with asyncio.timeout(self.timeout):
                    await self.server.connect()  # type: ignore[no-untyped-call]
                opened = True
                done.set_result(None)
            except asyncio.CancelledError:
                if not done.done():
                    done.cancel()
                raise
            except BaseException as exc:
                if not done.done():
                    done.set_exception(exc)

    async def _cleanup(self) -> None:
        try:
            await self.server.cleanup()  # type: ignore[no-untyped-call]
        except Exception as exc:
            logger.debug("MCP server %s cleanup: %s", self.server.name, _one_line(exc))


class ManagedMCPServer(MCPServer):
    """An MCP server the agent uses, reconnected when it fails (see the module docstring)."""

    def __init__(self, entry: McpEntry, inner: MCPServer | None = None) -> None:
        super().__init__()
        self.entry = entry
        self.inner = inner or transport_server(entry)
        self.connection = Connection(self.inner, entry.timeout)
        self.known_tools: list[MCPTool] = []

    @property
    def name(self) -> str:
        return self.entry.name

    def describe(self) -> str:
        return describe_entry(self.entry)

    async def connect(self) -> None:
        await self.connection.connect()

    async def cleanup(self) -> None:
        await self.connection.close()

    async def list_tools(
        self, run_context: RunContextWrapper[Any] | None = None, agent: Any = None
    ) -> list[MCPTool]:
        """The server's tools; after a failure, reconnect once and list again, else offer the
        tools listed last (calling them then fails as a tool error the model sees)."""
        seen = self.connection.generation
        if self.connection.connected:
            try:
                tools = await self.inner.list_tools(run_context, agent)
            except Exception as exc:
                logger.warning("MCP server %s: listing tools failed: %s", self.name, _one_line(exc))
                self.connection.mark_broken()
            else:
                self.known_tools = tools
                return tools
        if await self.connection.reconnect(seen):
            try:
                self.known_tools = await self.inner.list_tools(run_context, agent)
            except Exception as exc:
                logger.warning("MCP server %s: listing tools failed: %s", self.name, _one_line(exc))
                self.connection.mark_broken()
        return list(self.known_tools)

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        """Call a tool; a broken connection is reconnected first, and a failure raises (the
        SDK hands the error to the model as the tool's output)."""
        seen = self.connection.generation
        if not self.connection.connected and not await self.connection.reconnect(seen):
            raise ConnectionError(f"MCP server {self.name!r} is not reachable")
        try:
            return await self.inner.call_tool(tool_name, arguments, meta)
        except MCPError:
            raise  # the tool (or the server) answered with an error: the connection is fine
        except Exception:
            self.connection.mark_broken()
            raise

    async def list_prompts(self) -> ListPromptsResult:
        return await self.inner.list_prompts()

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None
    ) -> GetPromptResult:
        return await self.inner.get_prompt(name, arguments)


@dataclass(frozen=True, slots=True)
class McpProbe:
    """What ``doctor`` reports for one MCP server."""

    server: str
    ok: bool
    detail: str
    """The tool names, or why it did not answer."""


class McpServers:
    """The MCP servers of ``CHATKIT_TOOLS``, and any other servers the app must keep open."""

    def __init__(self, entries: Iterable[McpEntry]) -> None:
        self.servers: list[ManagedMCPServer] = [ManagedMCPServer(entry) for entry in entries]
        self.by_name = {server.name: server for server in self.servers}
        self.extra: list[Connection] = []
        """The user agent's own MCP servers (``Agent.mcp_servers``), opened and closed with ours."""

    def __bool__(self) -> bool:
        return bool(self.servers or self.extra)

    def adopt(self, agent: Agent[Any]) -> None:
        """Keep the MCP servers of ``agent`` and of the agents it hands off to connected too
        (servers of ours, already managed, are left alone)."""
        seen: set[int] = set()
        pending = [agent]
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            for server in current.mcp_servers:
                if isinstance(server, ManagedMCPServer) or any(
                    connection.server is server for connection in self.extra
                ):
                    continue
                self.extra.append(Connection(server, timeout=30.0))
            pending.extend(handoff for handoff in current.handoffs if isinstance(handoff, Agent))

    async def start(self) -> None:
        """Connect every server, concurrently; one that is down is logged and retried later."""
        connections = [server.connection for server in self.servers] + self.extra
        await asyncio.gather(*(connection.connect() for connection in connections))

    async def close(self) -> None:
        """Disconnect every server (stdio servers' processes end)."""
        connections = [server.connection for server in self.servers] + self.extra
        await asyncio.gather(*(connection.close() for connection in connections))

    async def probe(self, seconds: float) -> list[McpProbe]:
        """Connect to each configured server afresh, list its tools and disconnect."""
        return list(
            await asyncio.gather(*(_probe(server.entry, seconds) for server in self.servers))
        )


async def _probe(entry: McpEntry, seconds: float) -> McpProbe:
    connection = Connection(transport_server(entry), min(entry.timeout, seconds))
    described = describe_entry(entry)
    try:
        if not await connection.connect():
            error = connection.last_error
            reason = f"{type(error).__name__}: {_one_line(error)}" if error else "no answer"
            return McpProbe(described, False, f"could not connect: {reason}")
        async with asyncio.timeout(seconds):
            tools = await connection.server.list_tools()
    except Exception as exc:
        return McpProbe(
            described, False, f"list_tools failed: {type(exc).__name__}: {_one_line(exc)}"
        )
    finally:
        await connection.close()
    names = ", ".join(tool.name for tool in tools) or "no tools"
    return McpProbe(described, True, f"{len(tools)} tool(s): {names}")


def _one_line(exc: BaseException | None) -> str:
    text = " ".join(str(exc).split()) if exc is not None else ""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        text = _one_line(exc.exceptions[0])
    return (text[:300] + "…") if len(text) > 300 else text or type(exc).__name__
