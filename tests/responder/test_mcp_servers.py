"""MCP servers of ``CHATKIT_TOOLS``: real servers from the ``mcp`` package, the fake model
calling their tools, over streamable HTTP and over stdio.

The MCP server records each call; its answer reaches the reply. Servers connect once per
process, come back after a failure, and close on shutdown; a failing tool is a tool
error the model reads, never a broken stream.
"""

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from chatkit_backend.agent_config import McpEntry
from chatkit_backend.app import create_app
from chatkit_backend.cli.doctor_checks import check_mcp
from chatkit_backend.responder import mcp as mcp_module
from chatkit_backend.responder.mcp import McpServers
from chatkit_backend.settings import Settings, load_settings
from tests.fakes.mcp_servers import WEATHER, McpHttpServer, recorded_calls, stdio_command
from tests.fakes.openai_server import FakeOpenAIServer, tool_round
from tests.responder.conftest import live_app, model_settings, user_input
from tests.support.wait import poll


@pytest.fixture(autouse=True)
def reconnect_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnections are at most one per ``RECONNECT_INTERVAL`` (2 s): none here."""
    monkeypatch.setattr(mcp_module, "RECONNECT_INTERVAL", 0.0)


@pytest.fixture
def mcp_http() -> Iterator[McpHttpServer]:
    with McpHttpServer() as server:
        yield server


def http_entry(server: McpHttpServer, **extra: Any) -> dict[str, Any]:
    return {"type": "mcp", "name": "docs", "url": server.url, **extra}


def stdio_entry(record: Path, **extra: Any) -> dict[str, Any]:
    return {"type": "mcp", "name": "local", "command": stdio_command(record), **extra}


def mcp_settings(fake: FakeOpenAIServer, *entries: dict[str, Any]) -> Settings:
    return model_settings("openai", fake, tools=json.dumps(list(entries)))


def initializations(server: McpHttpServer) -> int:
    """Requests that opened a connection (``initialize``; ``server/discover`` in the
    stateless protocol versions)."""
    return sum(method in ("POST initialize", "POST server/discover") for method in server.methods)


# -- the model calls the server's tool, and its answer reaches the reply --------------------
def test_streamable_http_server_tool_answers_the_model(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer
) -> None:
    entry = http_entry(mcp_http, headers={"Authorization": "Bearer docs-token"})
    fake.enqueue(*tool_round("weather", {"city": "Paris"}))
    with live_app(mcp_settings(fake, entry)) as app:
        stream = app.create_thread("What is the weather in Paris?")

    assert mcp_http.calls == [{"tool": "weather", "arguments": {"city": "Paris"}}]
    assert stream.assistant_text == "The tool said: " + WEATHER.format(city="Paris")
    first = fake.model_requests[0].json()
    assert sorted(tool["name"] for tool in first["tools"]) == ["explode", "weather"]
    assert all(h.get("authorization") == "Bearer docs-token" for h in mcp_http.headers_seen)
    assert stream.of_type("error") == []


def test_stdio_server_tool_answers_the_model(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    fake.enqueue(*tool_round("weather", {"city": "Oslo"}))
    with live_app(mcp_settings(fake, stdio_entry(record))) as app:
        stream = app.create_thread("Weather in Oslo?")

    calls = recorded_calls(record)
    assert [(call["tool"], call["arguments"]) for call in calls] == [("weather", {"city": "Oslo"})]
    assert stream.assistant_text == "The tool said: " + WEATHER.format(city="Oslo")


def test_two_servers_with_the_same_tool_names_get_prefixed_names(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer, tmp_path: Path
) -> None:
    record = tmp_path / "calls.jsonl"
    fake.enqueue(*tool_round("mcp_local__weather", {"city": "Rome"}))
    with live_app(mcp_settings(fake, http_entry(mcp_http), stdio_entry(record))) as app:
        stream = app.create_thread("Weather in Rome?")

    names = sorted(tool["name"] for tool in fake.model_requests[0].json()["tools"])
    assert names == [
        "mcp_docs__explode",
        "mcp_docs__weather",
        "mcp_local__explode",
        "mcp_local__weather",
    ]
    assert [call["arguments"] for call in recorded_calls(record)] == [{"city": "Rome"}]
    assert mcp_http.calls == []
    assert stream.assistant_text.endswith("weather in Rome: 21 °C and sunny")


def test_allowed_tools_limits_what_the_model_sees(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer
) -> None:
    with live_app(mcp_settings(fake, http_entry(mcp_http, allowed_tools=["weather"]))) as app:
        app.create_thread("hi")

    assert [tool["name"] for tool in fake.model_requests[0].json()["tools"]] == ["weather"]


def test_tool_menu_choice_forces_the_mcp_servers_tools_only(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer, tmp_path: Path
) -> None:
    entries = [http_entry(mcp_http, id="docs"), stdio_entry(tmp_path / "calls.jsonl")]
    fake.enqueue(*tool_round("mcp_docs__weather", {"city": "Lima"}))
    with live_app(mcp_settings(fake, *entries)) as app:
        stream = app.stream(
            {
                "type": "threads.create",
                "params": {
                    "input": user_input("hi", inference_options={"tool_choice": {"id": "docs"}})
                },
            }
        )

    first, after_tool = (request.json() for request in fake.model_requests)
    assert first["tool_choice"] == "required"
    assert sorted(tool["name"] for tool in first["tools"]) == [
        "mcp_docs__explode",
        "mcp_docs__weather",
    ]
    assert "tool_choice" not in after_tool
    assert mcp_http.calls == [{"tool": "weather", "arguments": {"city": "Lima"}}]
    assert stream.assistant_text.endswith("weather in Lima: 21 °C and sunny")


# -- failures reach the model, not the stream ---------------------------------------------
def test_a_failing_mcp_tool_reaches_the_model_as_a_tool_error(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer
) -> None:
    fake.enqueue(*tool_round("explode", {"reason": "disk full"}))
    with live_app(mcp_settings(fake, http_entry(mcp_http))) as app:
        stream = app.create_thread("break it")

    assert stream.status == 200 and stream.of_type("error") == []
    assert mcp_http.calls == [{"tool": "explode", "arguments": {"reason": "disk full"}}]
    assert "explode failed: disk full" in stream.assistant_text
    assert stream.assistant_text.startswith("The tool said: ")


def test_a_server_that_went_away_is_a_tool_error_then_is_reconnected(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer
) -> None:
    with live_app(mcp_settings(fake, http_entry(mcp_http))) as app:
        fake.enqueue(*tool_round("weather", {"city": "Kyiv"}))
        assert app.create_thread("one").assistant_text.endswith("21 °C and sunny")
        opened = initializations(mcp_http)

        mcp_http.stop()  # the server goes down between two replies
        fake.enqueue(*tool_round("weather", {"city": "Kyiv"}))
        down = app.create_thread("two")

        mcp_http.start()  # and comes back on the same port
        fake.enqueue(*tool_round("weather", {"city": "Lviv"}))
        back = app.create_thread("three")

    assert down.status == 200 and down.of_type("error") == []
    assert down.assistant_text.startswith("The tool said: ")
    assert "21 °C" not in down.assistant_text  # the model read the failure
    assert back.assistant_text == "The tool said: " + WEATHER.format(city="Lviv")
    assert mcp_http.calls[-1] == {"tool": "weather", "arguments": {"city": "Lviv"}}
    assert initializations(mcp_http) > opened  # a new session after the restart


def test_a_stdio_server_that_died_is_started_again(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    with live_app(mcp_settings(fake, stdio_entry(record))) as app:
        fake.enqueue(*tool_round("weather", {"city": "Bern"}))
        app.create_thread("one")
        first_pid = recorded_calls(record)[-1]["pid"]
        process = psutil.Process(first_pid)
        process.kill()
        poll(lambda: not _running(first_pid), "the stdio server dies", within=10)

        fake.enqueue(*tool_round("weather", {"city": "Genf"}))
        stream = app.create_thread("two")

    assert stream.assistant_text == "The tool said: " + WEATHER.format(city="Genf")
    second_pid = recorded_calls(record)[-1]["pid"]
    assert second_pid != first_pid


def test_a_server_down_at_start_does_not_stop_the_app(fake: FakeOpenAIServer) -> None:
    server = McpHttpServer()  # not started: nothing listens on its port
    handler = _Records()
    logging.getLogger("chatkit_backend.responder").addHandler(handler)
    try:
        with live_app(mcp_settings(fake, http_entry(server, timeout=2))) as app:
            first = app.create_thread("hi")
            server.start()
            try:
                fake.enqueue(*tool_round("weather", {"city": "Riga"}))
                second = app.create_thread("now?")
            finally:
                server.stop()
    finally:
        logging.getLogger("chatkit_backend.responder").removeHandler(handler)

    assert first.status == 200 and first.of_type("error") == []
    assert fake.model_requests[0].json().get("tools", []) == []  # no tools while it is down
    assert any("MCP server docs is not reachable" in message for message in handler.messages)
    assert second.assistant_text == "The tool said: " + WEATHER.format(city="Riga")


# -- lifecycle ----------------------------------------------------------------------------
def test_servers_connect_once_per_process(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer, tmp_path: Path
) -> None:
    record = tmp_path / "calls.jsonl"
    with live_app(mcp_settings(fake, http_entry(mcp_http), stdio_entry(record))) as app:
        assert initializations(mcp_http) == 1  # connected at start, before any reply
        for city in ("A", "B", "C"):
            fake.enqueue(*tool_round("mcp_local__weather", {"city": city}))
            app.create_thread(city)
            fake.enqueue(*tool_round("mcp_docs__weather", {"city": city}))
            app.create_thread(city)

    assert initializations(mcp_http) == 1
    assert len(mcp_http.calls) == 3
    assert len({call["pid"] for call in recorded_calls(record)}) == 1


def test_servers_close_on_shutdown(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer, tmp_path: Path
) -> None:
    record = tmp_path / "calls.jsonl"
    with live_app(mcp_settings(fake, http_entry(mcp_http), stdio_entry(record))) as app:
        fake.enqueue(*tool_round("mcp_local__weather", {"city": "X"}))
        app.create_thread("x")
        pid = recorded_calls(record)[-1]["pid"]
        assert _running(pid)
        servers = app.app.state.services.responder.mcp.servers
        assert all(server.connection.connected for server in servers)

    poll(lambda: not _running(pid), "the stdio server ends", within=15)
    assert [server.connection.connected for server in servers] == [False, False]


# -- doctor -------------------------------------------------------------------------------
async def test_doctor_lists_each_server_and_whether_it_answers(
    fake: FakeOpenAIServer, mcp_http: McpHttpServer, tmp_path: Path
) -> None:
    down = McpHttpServer()  # never started
    settings = mcp_settings(
        fake,
        http_entry(mcp_http, headers={"Authorization": "Bearer secret-token"}),
        stdio_entry(tmp_path / "calls.jsonl"),
        {"type": "mcp", "name": "gone", "url": down.url + "?key=hidden", "timeout": 2},
    )
    app = create_app(settings)

    findings = await check_mcp(app, seconds=20)

    assert [(f.check, f.status) for f in findings] == [
        ("mcp", "ok"),
        ("mcp", "ok"),
        ("mcp", "problem"),
    ]
    assert findings[0].message == (
        f"MCP server docs (http://127.0.0.1:{mcp_http.port}/mcp) answers list_tools: "
        "2 tool(s): weather, explode"
    )
    assert findings[1].message.startswith("MCP server local (stdio: ")
    assert findings[1].message.endswith("answers list_tools: 2 tool(s): weather, explode")
    assert findings[2].message.startswith(
        f"MCP server gone (http://127.0.0.1:{down.port}/mcp): could not connect: "
    )
    assert all("secret-token" not in f.message and "hidden" not in f.message for f in findings)
    assert findings[2].fix is not None


async def test_doctor_says_nothing_without_mcp_servers(fake: FakeOpenAIServer) -> None:
    assert await check_mcp(create_app(model_settings("openai", fake)), seconds=5) == []


async def test_close_without_start_is_harmless() -> None:
    settings = load_settings(
        tools='[{"type": "mcp", "name": "a", "url": "http://127.0.0.1:9/mcp"}]'
    )
    servers = McpServers(entry for entry in settings.tools if isinstance(entry, McpEntry))
    await servers.close()
    assert servers.servers[0].connection.connected is False


# -- helpers ------------------------------------------------------------------------------
def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
