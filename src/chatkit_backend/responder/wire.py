"""Reading a model server's Server-Sent Events cheaply, with the ``openai`` client's semantics.

The ``openai`` client turns each streamed chunk into an object with ``construct_type``
(about 150 µs a chunk) after splitting the bytes line by line in Python. The fast models
(``fast_chat.py``, ``fast_responses.py``) read the same HTTP response through this module
instead: ``SSEParser`` splits whole network reads at once, ``orjson`` parses the JSON
(``json`` when orjson refuses a document, so the result and the error are the client's),
and ``stream_batches`` applies what ``openai.AsyncStream`` does around each event:
``[DONE]`` ends the stream, an ``error`` payload raises ``openai.APIError``, transport
errors become ``APITimeoutError``/``APIConnectionError``.

Source of the semantics: ``openai._streaming`` (``SSEDecoder``, ``AsyncStream.__stream__``)
of the pinned ``openai`` release; ``tests/responder/test_wire.py`` runs both on the same
bytes.
"""

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from openai import APIConnectionError, APIError, APITimeoutError, AsyncStream

from chatkit_backend import sdk_compat

_LINE_ENDS = re.compile(b"\r\n|\r|\n")
_LOADS_ERRORS = (orjson.JSONDecodeError,)


FIRST_YIELD = 32
"""Events parsed before the loop first gets a turn (the first ones reach the client soon)."""
YIELD_EVERY = 256
"""Events parsed from then on between two turns of the loop."""
_LONG_DIGITS = re.compile(r"\d{19}")
_NOT_ASCII_DIGITS = bytes(byte for byte in range(256) if not 0x30 <= byte <= 0x39)


def loads(data: str) -> Any:
    """``json.loads(data)``, faster: orjson when it reads the document the same way, else
    ``json`` (integers past 64 bits, which orjson turns into floats; NaN and lone
    surrogates, which it refuses), which also raises the client's own error."""
    # An integer orjson cannot hold has 19 digits or more: a document with fewer digits in
    # all is spared the search for one (a few µs, most of this function's cost).
    if (
        len(data.encode("utf-8", "surrogatepass").translate(None, _NOT_ASCII_DIGITS)) < 19
        or _LONG_DIGITS.search(data) is None
    ):
        try:
            return orjson.loads(data)
        except _LOADS_ERRORS:
            pass
    return json.loads(data)


@dataclass(slots=True)
class SSEParser:
    """Incremental Server-Sent Events parser: bytes in, ``(event, data)`` pairs out.

    Lines end at CR, LF or CRLF; ``data`` lines are joined with LF; comments and unknown
    fields are ignored; an ``id`` is remembered across events, as in the WHATWG spec and
    ``openai._streaming.SSEDecoder`` (which this matches line for line).
    """

    _tail: bytes = b""
    _skip_lf: bool = False
    _event: str | None = None
    _data: list[str] | None = None
    _last_event_id: str | None = None
    _retry: int | None = None

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """The events completed by ``chunk``."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        data = self._tail + chunk if self._tail else chunk
        if b"\r" in data:
            if data.endswith(b"\r"):
                self._skip_lf = True  # a LF starting the next read belongs to this CR
            lines = _LINE_ENDS.split(data)
        else:
            lines = data.split(b"\n")
        self._tail = lines.pop()
        return self._decode(lines)

    def finish(self) -> list[tuple[str | None, str]]:
        """The events a last line without its line end completes (none: it is never blank)."""
        tail, self._tail = self._tail, b""
        return self._decode([tail]) if tail else []

    def _decode(self, lines: list[bytes]) -> list[tuple[str | None, str]]:
        events: list[tuple[str | None, str]] = []
        for raw in lines:
            if not raw:
                data = self._data
                if not self._event and not data and not self._last_event_id and self._retry is None:
                    continue
                events.append(
                    (
                        self._event or None,
                        (data[0] if len(data) == 1 else "\n".join(data)) if data else "",
                    )
                )
                self._event = None
                self._data = None
                self._retry = None
                continue
            line = raw.decode("utf-8")
            if line[0] == ":":
                continue
            field, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if field == "data":
                if self._data is None:
                    self._data = [value]
                else:
                    self._data.append(value)
            elif field == "event":
                self._event = value
            elif field == "id":
                if "\0" not in value:
                    self._last_event_id = value
            elif field == "retry":
                try:
                    self._retry = int(value)
                except (TypeError, ValueError):
                    pass
        return events


Payload = tuple[str | None, Any]
"""An event's name (None without an ``event:`` line) and its JSON payload."""


async def stream_batches(stream: AsyncStream[Any]) -> AsyncGenerator[list[Payload]]:
    """The ``(event, JSON payload)`` items of an ``openai.AsyncStream`` not iterated yet,
    in batches: the items one network read completed (a read holding many is cut after
    ``FIRST_YIELD`` items, then every ``YIELD_EVERY``, giving the loop a turn).

    Items of one batch were ready together: the fast models may send consecutive text
    deltas among them as one event. The caller builds objects from the payloads
    (``build_like_client`` gives the client's own object). The response is closed at the
    end, as ``AsyncStream`` does. Raises what the client would raise, at the same points:
    the items before a failing one are delivered (as a batch) first.
    """
    parts = sdk_compat.stream_parts(stream)
    response = parts.response
    legacy = parts.legacy
    synthesize = parts.synthesize_event_and_data
    parser = SSEParser()
    chunks = response.aiter_bytes()
    timeouts, request_errors = sdk_compat.openai_transport_errors()
    parsed = 0
    next_turn = FIRST_YIELD
    try:
        while True:
            try:
                chunk = await anext(chunks, None)
            except timeouts as err:
                raise APITimeoutError(request=response.request) from err
            except request_errors as err:
                raise APIConnectionError(request=response.request) from err
            events = parser.feed(chunk) if chunk is not None else parser.finish()
            batch: list[Payload] = []
            for event, data in events:
                parsed += 1
                if parsed == next_turn:
                    # One network read can hold a whole fast reply: let the reader of the
                    # events send what is ready now rather than after the whole read.
                    next_turn += YIELD_EVERY
                    if batch:
                        yield batch
                        batch = []
                    await asyncio.sleep(0)
                if data.startswith("[DONE]"):
                    if batch:
                        yield batch
                    if response.http_version == "HTTP/1.1":
                        await sdk_compat.drain_openai_response(response)
                    return
                try:
                    batch.append(_item(event, data, response, legacy, synthesize))
                except Exception:
                    if batch:
                        yield batch
                    raise
            if batch:
                yield batch
            if chunk is None:
                return
    finally:
        await response.aclose()


def _item(event: str | None, data: str, response: Any, legacy: bool, synthesize: bool) -> Payload:
    """One event's item, or the client's error for it."""
    payload = loads(data)
    if legacy and event and event.startswith("thread."):
        # The Assistants API's events (never sent by the two APIs used here), in the
        # client's own shape, error check included.
        if event == "error" and isinstance(payload, dict) and payload.get("error"):
            raise _stream_error(payload, response)
        return event, {"data": payload, "event": event}
    if legacy and isinstance(payload, dict) and payload.get("error"):
        raise _stream_error(payload, response)
    return event, ({"data": payload, "event": event} if synthesize else payload)


async def stream_payloads(stream: AsyncStream[Any]) -> AsyncGenerator[Payload]:
    """``stream_batches``, one item at a time."""
    batches = stream_batches(stream)
    try:
        async for batch in batches:
            for item in batch:
                yield item
    finally:
        await batches.aclose()


def _stream_error(payload: dict[str, Any], response: Any) -> APIError:
    error = payload.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return APIError(message=message, request=response.request, body=payload["error"])


def build_like_client(stream: AsyncStream[Any]) -> Callable[[Any], Any]:
    """The client's own object for a payload of ``stream`` (``construct_type``, slow)."""
    parts = sdk_compat.stream_parts(stream)
    return lambda payload: parts.process(
        data=payload, cast_to=parts.cast_to, response=parts.response
    )
