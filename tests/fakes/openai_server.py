"""A fake OpenAI-compatible HTTP server for tests: real sockets on 127.0.0.1, no network.

It speaks streamed ``POST /v1/responses`` (Responses API) and ``POST /v1/chat/completions``
(Chat Completions) as Server-Sent Events, ``POST /v1/audio/transcriptions`` and
``GET /v1/models``. Each request takes the next queued ``Reply`` (or ``default_reply``),
which says what to send: text streamed token by token, tool calls, an error status, a
stall before the first token or between tokens, a cut or a malformed chunk mid-stream,
and the token usage reported at the end (input, cached, output and reasoning tokens).

Every request is recorded (method, path, headers, body) with its connection, and every
connection records when it opened and closed, so tests can assert what reached the
model and that a cancelled stream really closed its HTTP connection.

    with FakeOpenAIServer() as fake:
        fake.enqueue(Reply(text="Hi there"), Reply(status=429))
        settings = Settings(model="openai-compatible:m", model_base_url=fake.url)

The server runs its own event loop in a thread, so it serves an app under test whether
that runs in the test's loop, in a uvicorn thread or in a subprocess. By default every
response carries ``Connection: close``: one connection per request keeps the records
simple. ``keep_alive=True`` keeps connections open for the next request, as real model
servers do (the benchmarks use it: a reply then pays no TCP connection of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

HTTP_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}


@dataclass(frozen=True)
class ToolCall:
    """A function call the fake model asks for."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    call_id: str = "call_1"

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """What the fake server sends for one request."""

    text: str = "Hello from the fake model."
    tool_calls: tuple[ToolCall, ...] = ()
    status: int = 200
    """Answer with this HTTP status and an OpenAI-style JSON error body (401, 429, 500...)."""
    error_message: str = "fake failure"
    first_token_delay: float = 0.0
    """Seconds to stall after the headers, before the first event."""
    token_delay: float = 0.0
    """Seconds to stall between text tokens."""
    token_interval: float = 0.0
    """Send text tokens on a fixed schedule, this many seconds apart (model pace for load
    tests: one cheap timer per token, no drift from the time spent sending)."""
    raw_chunks: tuple[bytes, ...] = ()
    """Send these bytes as the streamed body, one HTTP chunk each, instead of a body built
    from ``text`` (a recorded stream, replayed byte for byte)."""
    stall_after_tokens: int | None = None
    """Stall (until the client goes away) after this many text tokens."""
    cut_after_tokens: int | None = None
    """Close the connection after this many text tokens, without ending the body."""
    malformed_after_tokens: int | None = None
    """Send a chunk that is not JSON after this many text tokens."""
    transcript: str = "transcribed text"
    answer: Callable[[dict[str, Any]], str] | None = None
    """Compute ``text`` from the request's JSON body (a model that reads what it was sent)."""
    input_tokens: int = 10
    """The usage reported at the end of a stream: input (prompt) tokens, ..."""
    cached_tokens: int = 0
    """... how many of them were cached, ..."""
    output_tokens: int | None = None
    """... output (completion) tokens (default: one per text token), ..."""
    reasoning_tokens: int = 0
    """... and how many of those were reasoning."""

    def usage(self, api: str) -> dict[str, Any]:
        """The usage object of the reply, as ``api`` (``responses`` or ``chat``) reports it."""
        output = len(self.tokens()) if self.output_tokens is None else self.output_tokens
        if api == "chat":
            return {
                "prompt_tokens": self.input_tokens,
                "completion_tokens": output,
                "total_tokens": self.input_tokens + output,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            }
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + output,
        }

    annotations: tuple[dict[str, Any], ...] = ()
    """Responses API: annotations of the text (``url_citation``, ``file_citation``...),
    streamed as ``response.output_text.annotation.added`` after the text."""
    reasoning: tuple[str, ...] = ()
    """Responses API: reasoning summary texts, streamed in a ``reasoning`` item first."""
    output_items: tuple[dict[str, Any], ...] = ()
    """Responses API: hosted tool calls (``web_search_call``, ``image_generation_call``...)
    streamed as whole output items (added, then done) before the message; an ``id`` is
    added when missing."""

    def tokens(self) -> list[str]:
        """The text split into word tokens, each keeping its following space."""
        words = self.text.split(" ")
        return [word + " " for word in words[:-1]] + [words[-1]] if self.text else []


@dataclass
class ConnectionRecord:
    """One TCP connection to the fake server."""

    number: int
    opened_at: float
    closed_at: float | None = None
    closed_by: str | None = None  # "client" (EOF seen) or "server"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass
class RecordedRequest:
    """One HTTP request the fake server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: ConnectionRecord
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def route(self) -> str:
        """The path without its query string."""
        return self.path.split("?", 1)[0]

    @property
    def is_streamed(self) -> bool:
        """A model request asking for a stream (other requests never take queued replies)."""
        if not self.route.endswith(("/responses", "/chat/completions")):
            return True
        try:
            return bool(self.json().get("stream"))
        except (ValueError, AttributeError):
            return False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _ClientGone(Exception):
    """The client closed the connection while a response was being written."""


class FakeOpenAIServer:
    """A threaded fake of the OpenAI HTTP API. Use as a context manager or start()/stop()."""

    def __init__(self, default_reply: Reply | None = None, *, keep_alive: bool = False) -> None:
        self.default_reply = default_reply or Reply()
        self.keep_alive = keep_alive
        """Answer ``Connection: keep-alive`` and serve several requests per connection."""
        self.completion_reply = Reply(text="A fake title")
        """What non-streamed model requests get (titles): not taken from the queue."""
        self.requests: list[RecordedRequest] = []
        self.connections: list[ConnectionRecord] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for an OpenAI client (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- configuration and records ---------------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order; then ``default_reply`` applies."""
        with self._lock:
            self._replies.extend(replies)

    def requests_to(self, path_suffix: str) -> list[RecordedRequest]:
        return [request for request in list(self.requests) if request.path.endswith(path_suffix)]

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """Streamed requests to ``/responses`` and ``/chat/completions`` (replies), oldest first."""
        return [
            request
            for request in list(self.requests)
            if request.route.endswith(("/responses", "/chat/completions")) and request.is_streamed
        ]

    @property
    def completion_requests(self) -> list[RecordedRequest]:
        """Non-streamed model requests (such as titles), oldest first."""
        return [
            request
            for request in list(self.requests)
            if request.route.endswith(("/responses", "/chat/completions"))
            and not request.is_streamed
        ]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else self.default_reply

    # -- server loop -----------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    def _shutdown(self) -> None:
        assert self._loop is not None
        if self._server is not None:
            self._server.close()
        self._loop.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record = ConnectionRecord(number=next(self._numbers), opened_at=time.monotonic())
        self.connections.append(record)
        try:
            while True:
                request = await self._read_request(reader, record)
                if request is None:
                    break
                self.requests.append(request)
                reply = self._next_reply() if request.is_streamed else self.completion_reply
                exchange = _Exchange(request, reader, writer, record, keep_alive=self.keep_alive)
                await exchange.answer(reply)
                if not self.keep_alive or exchange.ended_connection:
                    break
                # The EOF watcher is done before the next request is read from the reader.
                await asyncio.gather(exchange.gone, return_exceptions=True)
                if record.closed_at is not None:
                    break
        except (_ClientGone, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if record.closed_at is None:
                record.closed_at = time.monotonic()
                record.closed_by = "server"
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(
        self, reader: asyncio.StreamReader, record: ConnectionRecord
    ) -> RecordedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
        return RecordedRequest(method, path, headers, body, record, time.monotonic())


class _Exchange:
    """Writes the response to one request, watching for the client to go away."""

    def __init__(
        self,
        request: RecordedRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: ConnectionRecord,
        *,
        keep_alive: bool = False,
    ) -> None:
        self.request = request
        self.connection_header = b"keep-alive" if keep_alive else b"close"
        self.ended_connection = False
        """True when the answer cut the connection or left a body unfinished."""
        self.reader = reader
        self.writer = writer
        self.record = record
        self.gone = asyncio.ensure_future(self._watch_eof())
        self.sequence = itertools.count()
        self.paced_from = 0.0

    async def _watch_eof(self) -> None:
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(4096):
                pass
        if self.record.closed_at is None:
            self.record.closed_at = time.monotonic()
            self.record.closed_by = "client"

    async def answer(self, reply: Reply) -> None:
        if reply.answer is not None and self.request.body:
            reply = dataclasses.replace(reply, text=reply.answer(self.request.json()))
        try:
            path = self.request.path.split("?", 1)[0]
            if self.request.method == "GET" and path.endswith("/models"):
                await self._json(
                    200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
                )
            elif self.request.method != "POST":
                await self._json(405, {"error": {"message": "method not allowed"}})
            elif reply.status != 200:
                await self._error(reply)
            elif reply.raw_chunks and self.request.is_streamed:
                await self._start_stream()
                for chunk in reply.raw_chunks:
                    await self._chunk(chunk)
                await self._end_stream()
            elif path.endswith("/chat/completions") and self.request.is_streamed:
                await self._chat_completions(reply)
            elif path.endswith("/responses") and self.request.is_streamed:
                await self._responses(reply)
            elif path.endswith(("/chat/completions", "/responses")):
                await self._sleep(reply.first_token_delay)
                await self._json(200, self._completion(path, reply))
            elif path.endswith("/audio/transcriptions"):
                await self._json(200, {"text": reply.transcript})
            else:
                await self._json(404, {"error": {"message": f"no route {path}"}})
        finally:
            self.gone.cancel()

    # -- plain responses -------------------------------------------------------------------
    async def _json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (
            f"HTTP/1.1 {status} {HTTP_REASONS.get(status, 'Status')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: {self.connection_header.decode()}\r\n{extra}\r\n"
        )
        await self._write(head.encode() + payload)

    async def _error(self, reply: Reply) -> None:
        body = {
            "error": {
                "message": reply.error_message,
                "type": ERROR_TYPES.get(reply.status, "server_error"),
                "param": None,
                "code": None,
            }
        }
        await self._json(
            reply.status,
            body,
            {"x-request-id": f"req_fake_{self.record.number}", "retry-after": "0"},
        )

    # -- streaming helpers -----------------------------------------------------------------
    async def _write(self, data: bytes) -> None:
        if self.gone.done():
            raise _ClientGone
        self.writer.write(data)
        try:
            await self.writer.drain()
        except ConnectionError as exc:
            raise _ClientGone from exc

    async def _start_stream(self) -> None:
        await self._write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\nConnection: "
            + self.connection_header
            + f"\r\nx-request-id: req_fake_{self.record.number}\r\n\r\n".encode()
        )

    async def _chunk(self, data: bytes) -> None:
        await self._write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    async def _end_stream(self) -> None:
        await self._write(b"0\r\n\r\n")

    async def _sleep(self, seconds: float) -> None:
        """Sleep, or stop early (raising ``_ClientGone``) when the client goes away."""
        if seconds <= 0:
            return
        await asyncio.wait({self.gone}, timeout=seconds)
        if self.gone.done():
            raise _ClientGone

    async def _stall_forever(self) -> None:
        await asyncio.wait({self.gone})
        raise _ClientGone

    async def _before_token(self, reply: Reply, index: int) -> bool:
        """Apply the reply's stalls and faults before text token ``index``; False: stop."""
        if index == 0:
            await self._sleep(reply.first_token_delay)
            self.paced_from = asyncio.get_running_loop().time()
        elif reply.token_delay:
            await self._sleep(reply.token_delay)
        if reply.token_interval and index:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(self.paced_from + index * reply.token_interval - loop.time())
            if self.gone.done():
                raise _ClientGone
        if reply.stall_after_tokens is not None and index == reply.stall_after_tokens:
            await self._stall_forever()
        if reply.cut_after_tokens is not None and index == reply.cut_after_tokens:
            self.ended_connection = True
            self.writer.transport.abort()
            return False
        if reply.malformed_after_tokens is not None and index == reply.malformed_after_tokens:
            self.ended_connection = True
            await self._chunk(b'data: {"choices": [ this is not json\n\n')
            await self._chunk(b"event: response.output_text.delta\ndata: {not json\n\n")
            await self._end_stream()
            return False
        return True

    def _completion(self, path: str, reply: Reply) -> dict[str, Any]:
        """A whole (non-streamed) answer holding ``reply.text``."""
        model = self.request.json().get("model", "fake-model")
        if path.endswith("/chat/completions"):
            return {
                "id": f"chatcmpl-fake{self.record.number}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
            }
        message = {
            "id": f"msg_fake{self.record.number}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
        }
        return {
            "id": f"resp_fake{self.record.number}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": model,
            "output": [message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 10,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 3,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 13,
            },
        }

    # -- Chat Completions ------------------------------------------------------------------
    async def _chat_completions(self, reply: Reply) -> None:
        body = self.request.json()
        model = body.get("model", "fake-model")
        await self._start_stream()
        completion_id = f"chatcmpl-fake{self.record.number}"

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        tokens = reply.tokens()
        for index, token in enumerate(tokens):
            if not await self._before_token(reply, index):
                return
            delta: dict[str, Any] = {"content": token}
            if index == 0:
                delta["role"] = "assistant"
            await send(delta)
        if not await self._before_token(reply, len(tokens)):
            return
        for position, call in enumerate(reply.tool_calls):
            await send(
                {
                    "tool_calls": [
                        {
                            "index": position,
                            "id": call.call_id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
            await send(
                {
                    "tool_calls": [
                        {"index": position, "function": {"arguments": call.arguments_json}}
                    ]
                }
            )
        await send({}, "tool_calls" if reply.tool_calls else "stop")
        usage = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": reply.usage("chat"),
        }
        await self._chunk(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await self._chunk(b"data: [DONE]\n\n")
        await self._end_stream()

    # -- Responses API ---------------------------------------------------------------------
    async def _event(self, kind: str, payload: dict[str, Any]) -> None:
        data = {"type": kind, "sequence_number": next(self.sequence), **payload}
        await self._chunk(f"event: {kind}\ndata: ".encode() + json.dumps(data).encode() + b"\n\n")

    async def _responses(self, reply: Reply) -> None:
        body = self.request.json()
        number = self.record.number
        response = {
            "id": f"resp_fake{number}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": body.get("model", "fake-model"),
            "output": [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "temperature": 1.0,
        }
        await self._start_stream()
        await self._event("response.created", {"response": response})
        await self._event("response.in_progress", {"response": response})
        output: list[dict[str, Any]] = []
        await self._reasoning_and_hosted_items(reply, output)
        tokens = reply.tokens()
        if tokens:
            message_id = f"msg_fake{number}"
            message_index = len(output)
            message: dict[str, Any] = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            await self._event(
                "response.output_item.added", {"output_index": message_index, "item": message}
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            where = {"item_id": message_id, "output_index": message_index, "content_index": 0}
            await self._event("response.content_part.added", {**where, "part": part})
            for index, token in enumerate(tokens):
                if not await self._before_token(reply, index):
                    return
                await self._event(
                    "response.output_text.delta", {**where, "delta": token, "logprobs": []}
                )
            if not await self._before_token(reply, len(tokens)):
                return
            for annotation_index, annotation in enumerate(reply.annotations):
                await self._event(
                    "response.output_text.annotation.added",
                    {**where, "annotation_index": annotation_index, "annotation": annotation},
                )
            done_part = {
                "type": "output_text",
                "text": reply.text,
                "annotations": list(reply.annotations),
            }
            await self._event(
                "response.output_text.done", {**where, "text": reply.text, "logprobs": []}
            )
            await self._event("response.content_part.done", {**where, "part": done_part})
            message = {**message, "status": "completed", "content": [done_part]}
            await self._event(
                "response.output_item.done", {"output_index": message_index, "item": message}
            )
            output.append(message)
        elif not await self._before_token(reply, 0):
            return
        for call in reply.tool_calls:
            index = len(output)
            item = {
                "id": f"fc_fake{number}_{index}",
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": "",
                "status": "in_progress",
            }
            await self._event("response.output_item.added", {"output_index": index, "item": item})
            where = {"item_id": item["id"], "output_index": index}
            await self._event(
                "response.function_call_arguments.delta", {**where, "delta": call.arguments_json}
            )
            await self._event(
                "response.function_call_arguments.done", {**where, "arguments": call.arguments_json}
            )
            item = {**item, "arguments": call.arguments_json, "status": "completed"}
            await self._event("response.output_item.done", {"output_index": index, "item": item})
            output.append(item)
        completed = {
            **response,
            "status": "completed",
            "output": output,
            "usage": reply.usage("responses"),
        }
        await self._event("response.completed", {"response": completed})
        await self._end_stream()

    async def _reasoning_and_hosted_items(self, reply: Reply, output: list[dict[str, Any]]) -> None:
        """The reasoning summary item and the hosted tool calls of ``reply``, in that order."""
        number = self.record.number
        if reply.reasoning:
            index = len(output)
            item: dict[str, Any] = {"id": f"rs_fake{number}", "type": "reasoning", "summary": []}
            await self._event("response.output_item.added", {"output_index": index, "item": item})
            where = {"item_id": item["id"], "output_index": index}
            for summary_index, text in enumerate(reply.reasoning):
                at = {**where, "summary_index": summary_index}
                empty = {"type": "summary_text", "text": ""}
                await self._event("response.reasoning_summary_part.added", {**at, "part": empty})
                await self._event("response.reasoning_summary_text.delta", {**at, "delta": text})
                await self._event("response.reasoning_summary_text.done", {**at, "text": text})
                done = {"type": "summary_text", "text": text}
                await self._event("response.reasoning_summary_part.done", {**at, "part": done})
            summary = [{"type": "summary_text", "text": text} for text in reply.reasoning]
            item = {**item, "summary": summary}
            await self._event("response.output_item.done", {"output_index": index, "item": item})
            output.append(item)
        for position, raw in enumerate(reply.output_items):
            index = len(output)
            item = {"id": f"{raw['type']}_fake{number}_{position}", **raw}
            added = {**item, "status": "in_progress"}
            if "result" in added:
                added["result"] = None
            await self._event("response.output_item.added", {"output_index": index, "item": added})
            await self._event("response.output_item.done", {"output_index": index, "item": item})
            output.append(item)


@contextlib.contextmanager
def fake_openai_server(default_reply: Reply | None = None) -> Iterator[FakeOpenAIServer]:
    """Start a ``FakeOpenAIServer`` for the length of a ``with`` block."""
    server = FakeOpenAIServer(default_reply)
    with server:
        yield server


# -- tool-calling mode ---------------------------------------------------------------------
TOOL_ANSWER = "The tool said: {output}"


def tool_output_text(body: dict[str, Any]) -> str:
    """The output of the newest tool call a model request carries: the last
    ``function_call_output`` item (Responses API) or ``tool`` message (Chat Completions)."""
    items = body.get("input") if isinstance(body.get("input"), list) else body.get("messages")
    for item in reversed(items or []):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call_output" or item.get("role") == "tool":
            output = item.get("output", item.get("content"))
            if isinstance(output, list):  # structured output: the text parts
                output = "".join(
                    str(part.get("text", "")) for part in output if isinstance(part, dict)
                )
            return str(output)
    return "(no tool output)"


def tool_round(
    name: str, arguments: dict[str, Any], call_id: str = "call_1"
) -> tuple[Reply, Reply]:
    """The two replies of one tool round: call ``name`` with ``arguments``, then answer
    ``"The tool said: <its output>"`` (read from the next request)."""
    return (
        Reply(text="", tool_calls=(ToolCall(name, arguments, call_id),)),
        Reply(answer=lambda body: TOOL_ANSWER.format(output=tool_output_text(body))),
    )
