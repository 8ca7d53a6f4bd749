"""The HTTP client under the ``openai`` client: aiohttp, with httpx's errors and proxies.

A streamed reply arrives as one HTTP chunk per token. httpx parses each in pure Python
(h11: ~15 µs a chunk, a third of a token's cost at model pace); aiohttp parses HTTP in C.
``openai.DefaultAioHttpClient`` is the ``openai`` client's documented way to run on
aiohttp; ``model_http_client`` builds one with a transport that keeps two behaviours of
httpx the rest of the server relies on:

- errors keep their meaning: the vendored transport reports a refused connection and a
  connection dropped mid-reply as ``ConnectTimeout``; here they are ``ConnectError`` and
  ``ReadError`` (so the user reads "could not be reached" / "connection lost", not "took
  too long"), and read and connect timeouts stay timeouts;
- proxies from the environment (``HTTPS_PROXY``, ``NO_PROXY``) apply, as with httpx,
  which reads them once when built: here once per origin, at its first request
  (aiohttp's own ``trust_env`` would look them up, and read ``~/.netrc``, in a thread on
  every request: two thread hops per model request, and a ``~/.netrc`` entry for the
  model server would make every request fail next to the client's ``Authorization``).
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
from aiohttp.helpers import get_env_proxy_for_url
from openai import DefaultAioHttpClient
from yarl import URL

from chatkit_backend.sdk_compat import AiohttpTransport


def httpx_error(error: BaseException) -> BaseException:
    """The httpx error for a transport error whose cause is an aiohttp error."""
    cause = error.__cause__
    message = str(cause) if cause is not None else str(error)
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx2.ConnectTimeout(message)
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return httpx2.ReadTimeout(message)
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx2.ConnectError(message)
    if isinstance(
        cause, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError
    ):
        return httpx2.ReadError(message)
    return error


CONNECTION_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
"""The ``openai`` client's own defaults."""


class _Body(httpx2.AsyncByteStream):
    """A response body whose read errors are httpx's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.inner:
                yield chunk
        except httpx2.TransportError as error:
            mapped = httpx_error(error)
            if mapped is error:
                raise
            raise mapped from error.__cause__

    async def aclose(self) -> None:
        await self.inner.aclose()


async def environment_proxy(url: httpx2.URL) -> httpx2.Proxy | None:
    """The proxy the environment gives ``url`` (``HTTP(S)_PROXY``, ``NO_PROXY``, proxy
    credentials from ``~/.netrc``), as aiohttp's ``trust_env`` finds it; None for none."""
    try:
        proxy, auth = await asyncio.to_thread(get_env_proxy_for_url, URL(str(url)))
    except LookupError:
        return None
    return httpx2.Proxy(str(proxy), auth=(auth.login, auth.password) if auth else None)


class ModelTransport(AiohttpTransport):
    """openai's aiohttp transport with httpx's errors and environment proxies."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.given_proxy = self.proxy
        self.origin_proxies: dict[tuple[bytes, bytes, int | None], httpx2.Proxy | None] = {}
        """The environment's proxy per origin (scheme, host, port), looked up once."""

    def get_client(self) -> aiohttp.ClientSession:
        """The transport's own session (proxies: ``handle_async_request``)."""
        if self.client is not None:
            return super().get_client()
        limits = self.limits
        connector = aiohttp.TCPConnector(
            keepalive_timeout=limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=limits.max_connections or 0,
        )
        return aiohttp.ClientSession(connector=connector)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.given_proxy is None:
            url = request.url
            origin = (url.raw_scheme, url.raw_host, url.port)
            if origin not in self.origin_proxies:
                self.origin_proxies[origin] = await environment_proxy(url)
            # Read by the request below before its first pause (no other request between).
            self.proxy = self.origin_proxies[origin]
        try:
            response = await super().handle_async_request(request)
        except httpx2.TransportError as error:
            mapped = httpx_error(error)
            if mapped is error:
                raise
            raise mapped from error.__cause__
        response.stream = _Body(response.stream)
        return response


def model_http_client(timeout: float) -> httpx2.AsyncClient:
    """The ``http_client`` for the model server's ``AsyncOpenAI`` (``timeout``: seconds)."""
    return DefaultAioHttpClient(timeout=timeout, transport=ModelTransport(limits=CONNECTION_LIMITS))
