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
- proxies from the environment (``HTTPS_PROXY``, ``NO_PROXY``) apply, as with httpx.
"""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
from openai import DefaultAioHttpClient

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


class ModelTransport(AiohttpTransport):
    """openai's aiohttp transport with httpx's errors and environment proxies."""

    def get_client(self) -> aiohttp.ClientSession:
        """The transport's own session, with ``trust_env`` (proxies from the environment)."""
        if self.client is not None:
            return super().get_client()
        limits = self.limits
        connector = aiohttp.TCPConnector(
            keepalive_timeout=limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=limits.max_connections or 0,
        )
        return aiohttp.ClientSession(connector=connector, trust_env=True)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
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
