"""Real MCP servers for tests, built with the ``mcp`` package: one over streamable HTTP on
127.0.0.1 (uvicorn in a thread), one over stdio (this file run as a script).

Both offer the same tools and record every call they receive:

- ``weather(city)`` answers ``"weather in <city>: 21 °C and sunny"``;
- ``explode(reason)`` fails (an MCP tool error: ``isError`` with the reason).

    with McpHttpServer() as server:          # server.url, server.calls
        ...
    command = stdio_command(record_path)     # [python, this file, record_path]
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WEATHER = "weather in {city}: 21 °C and sunny"
Recorder = Callable[[dict[str, Any]], None]


def build_server(record: Recorder, name: str = "fake-tools") -> Any:
    """An MCP server (``mcp.server.mcpserver.MCPServer``) with the two recording tools."""
    from mcp.server.mcpserver import MCPServer as Server
    from mcp.server.mcpserver.exceptions import ToolError

    server = Server(name)

    @server.tool()
    def weather(city: str) -> str:
        """The weather in a city."""
        record({"tool": "weather", "arguments": {"city": city}})
        return WEATHER.format(city=city)

    @server.tool()
    def explode(reason: str) -> str:
        """A tool that always fails."""
        record({"tool": "explode", "arguments": {"reason": reason}})
        raise ToolError(f"explode failed: {reason}")

    return server


class McpHttpServer:
    """The MCP server over streamable HTTP at ``url`` (``/mcp``), on a free port; calls in
    ``calls``. ``stop()`` then ``start()`` restarts it on the same port (a server restart)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        """The headers of each request."""
        self.methods: list[str] = []
        """Each request as ``POST initialize``, ``POST tools/call``, ``DELETE`` ..."""
        self.port = _free_port()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> McpHttpServer:
        import uvicorn

        app = build_server(self.calls.append).streamable_http_app()
        headers_seen, methods = self.headers_seen, self.methods

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            headers_seen.append(
                {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
            )
            body = b""

            async def receive_and_record() -> Any:
                nonlocal body
                message = await receive()
                if message["type"] == "http.request":
                    body += message.get("body", b"")
                    if not message.get("more_body"):
                        methods.append(f"{scope['method']} {_rpc_method(body)}".strip())
                return message

            await app(scope, receive_and_record, send)

        config = uvicorn.Config(
            recording, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the MCP server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        self._server = None
        self._thread = None

    def __enter__(self) -> McpHttpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stdio_command(record_path: Path) -> list[str]:
    """The command that runs the stdio MCP server, recording calls to ``record_path``."""
    return [sys.executable, str(Path(__file__).resolve()), str(record_path)]


def recorded_calls(record_path: Path) -> list[dict[str, Any]]:
    """The calls the stdio server recorded (one JSON object per line, with its ``pid``)."""
    if not record_path.exists():
        return []
    return [json.loads(line) for line in record_path.read_text().splitlines() if line.strip()]


def _rpc_method(body: bytes) -> str:
    try:
        message = json.loads(body) if body else {}
    except ValueError:
        return "?"
    return str(message.get("method", "(response)")) if isinstance(message, dict) else "(batch)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _main(record_path: str) -> None:
    path = Path(record_path)

    def record(call: dict[str, Any]) -> None:
        with path.open("a", encoding="utf-8") as file:
            file.write(json.dumps({**call, "pid": os.getpid()}) + "\n")

    build_server(record, "fake-stdio-tools").run("stdio")


if __name__ == "__main__":
    _main(sys.argv[1])
