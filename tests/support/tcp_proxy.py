"""A TCP proxy between the server and a service (PostgreSQL, Redis), to cut the network.

It listens on 127.0.0.1 (a port the OS picks) and runs on its own event loop in a
thread, so sync and async tests drive it alike. Modes:

- ``pass``: bytes flow both ways.
- ``blackhole``: a network partition. Nothing is delivered either way and nothing is
  refused or reset: bytes wait (as TCP would retransmit them) until the mode is ``pass``
  again; new connections are accepted and then hear nothing.
- ``reset``: every open connection is reset (RST), and so is every new one.
- ``refuse``: the service is down: open connections are reset and the port refuses new
  ones (``ECONNREFUSED``) until another mode is set.
"""

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any, Literal

Mode = Literal["pass", "blackhole", "reset", "refuse"]


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TCPProxy:
    """``with TCPProxy(port) as proxy: ... proxy.set_mode("blackhole")``; ``proxy.port``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.mode: Mode = "pass"
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()  # open, and still passing data
        self._opened: list[asyncio.StreamWriter] = []  # every one, closed at the end
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- control, from any thread ----------------------------------------------------------
    def __enter__(self) -> "TCPProxy":
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *_: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def set_mode(self, mode: Mode) -> None:
        self._call(self._set_mode(mode))

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=10)

    @contextlib.contextmanager
    def mode_for_a_while(self, mode: Mode) -> Iterator[None]:
        """``mode`` inside the block, ``pass`` after it."""
        self.set_mode(mode)
        try:
            yield
        finally:
            self.set_mode("pass")

    # -- on the proxy's loop ---------------------------------------------------------------
    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in self._opened:
            if not writer.transport.is_closing():
                writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports finish closing

    async def _set_mode(self, mode: Mode) -> None:
        assert self._flowing is not None
        previous, self.mode = self.mode, mode
        if mode == "pass":
            self._flowing.set()
        else:
            self._flowing.clear()
        if mode in ("reset", "refuse"):
            for writer in list(self._writers):
                _reset(writer)
            self._writers.clear()
        if mode == "refuse" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if previous == "refuse" and mode != "refuse":
            await self._listen()

    def _track(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        assert self._flowing is not None
        this = asyncio.current_task()
        if this is not None:  # cancelled at the end if it still waits
            self._tasks.add(this)
            this.add_done_callback(self._tasks.discard)
        self.accepted += 1
        self._opened.append(client)
        if self.mode == "reset":
            _reset(client)
            return
        self._writers.add(client)
        await self._flowing.wait()  # a partition: the client connected, nobody answers
        if client not in self._writers:  # reset meanwhile
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(client)
            return
        self._opened.append(upstream)
        self._writers.add(upstream)
        self._track(self._pump(client_reader, upstream, client))
        self._track(self._pump(upstream_reader, client, upstream))

    async def _pump(
        self,
        source: asyncio.StreamReader,
        target: asyncio.StreamWriter,
        other: asyncio.StreamWriter,
    ) -> None:
        """Copy ``source`` to ``target``; when either side is done, both are closed."""
        assert self._flowing is not None
        try:
            while data := await source.read(65536):
                await self._flowing.wait()  # held, not dropped, while partitioned
                if target not in self._writers:
                    return
                target.write(data)
                await target.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (target, other):  # the close passes on to the other side
                self._writers.discard(writer)
                if not writer.transport.is_closing():
                    writer.close()
