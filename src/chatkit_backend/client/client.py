"""``ChatKitClient``: an async client for any ChatKit backend, over ``httpx.AsyncClient``.

    async with ChatKitClient("http://127.0.0.1:8000/chatkit", api_key="k") as client:
        reply = await client.send("Hello")
        print(reply.thread_id, reply.text)
        async for event in client.add_user_message(reply.thread_id, "And then?"):
            ...

Streaming operations return an async iterator of the SDK's ``ThreadStreamEvent``; an
error status before the stream raises when iteration starts, and an ``ErrorEvent`` in the
stream is yielded like any event (``send`` raises it as ``StreamError``). Other
operations return the SDK's models. Every HTTP error is a ``ChatKitError`` subclass
carrying the server's status, code, message and request id.
"""

import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal, Self, TypedDict, TypeVar, Unpack

import httpx
from chatkit.actions import Action
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentDeleteParams,
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    AttachmentUploadDescriptor,
    FeedbackKind,
    InferenceOptions,
    InputTranscribeParams,
    InputTranscribeReq,
    ItemFeedbackParams,
    ItemsFeedbackReq,
    ItemsListParams,
    ItemsListReq,
    Page,
    StructuredInputSubmission,
    SyncCustomActionResponse,
    Thread,
    ThreadAddClientToolOutputParams,
    ThreadAddStructuredInputParams,
    ThreadAddUserMessageParams,
    ThreadCreateParams,
    ThreadCustomActionParams,
    ThreadDeleteParams,
    ThreadGetByIdParams,
    ThreadItem,
    ThreadListParams,
    ThreadRetryAfterItemParams,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
    ThreadStreamEvent,
    ThreadsUpdateReq,
    ThreadUpdateParams,
    ToolChoice,
    TranscriptionResult,
    UserMessageContent,
    UserMessageInput,
    UserMessageTextContent,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

from chatkit_backend.client.errors import (
    ChatKitError,
    ProtocolError,
    RequestTimeout,
    TransportError,
    error_from_response,
)
from chatkit_backend.client.reply import Reply, ReplyCollector
from chatkit_backend.client.sse import stream_events
from chatkit_backend.client.urls import split_endpoint

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, read=120.0)
"""Connect in 10 s; 120 s between bytes (a model may think before its first token); 30 s otherwise."""

THREAD_PAGE: TypeAdapter[Page[Thread]] = TypeAdapter(Page[Thread])
ITEM_PAGE: TypeAdapter[Page[ThreadItem]] = TypeAdapter(Page[ThreadItem])
ATTACHMENT: TypeAdapter[Attachment] = TypeAdapter(Attachment)
THREAD: TypeAdapter[Thread] = TypeAdapter(Thread)
TRANSCRIPTION: TypeAdapter[TranscriptionResult] = TypeAdapter(TranscriptionResult)
SYNC_ACTION: TypeAdapter[SyncCustomActionResponse] = TypeAdapter(SyncCustomActionResponse)

Order = Literal["asc", "desc"]
T = TypeVar("T")


class MessageOptions(TypedDict, total=False):
    """What a user message may carry besides its text (see ``user_input``)."""

    attachments: list[str] | None
    quoted_text: str | None
    model: str | None
    tool_choice: str | None


def user_input(
    text: str | list[UserMessageContent],
    *,
    attachments: list[str] | None = None,
    quoted_text: str | None = None,
    model: str | None = None,
    tool_choice: str | None = None,
) -> UserMessageInput:
    """A ``UserMessageInput`` from plain text (or content parts) and attachment ids."""
    content: list[UserMessageContent] = (
        [UserMessageTextContent(text=text)] if isinstance(text, str) else text
    )
    return UserMessageInput(
        content=content,
        attachments=attachments or [],
        quoted_text=quoted_text,
        inference_options=InferenceOptions(
            model=model, tool_choice=ToolChoice(id=tool_choice) if tool_choice else None
        ),
    )


class ChatKitClient:
    """Every ChatKit operation against one backend, with auth headers and typed errors.

    ``url`` is the endpoint's URL, as a front end's ``api.url`` holds it
    (``http://127.0.0.1:8000/chatkit``), or the server's base URL
    (``http://127.0.0.1:8000``, the endpoint then at ``path``, default ``/chatkit``). The
    rule, in ``chatkit_backend.client.urls``: with no ``path``, a URL with a path is the
    endpoint and a URL without one gets ``/chatkit``; with a ``path``, the URL is a base
    URL (a mount prefix allowed) unless it already ends with ``path``. A URL that is not
    ``http(s)://host...`` raises ``ValueError``. ``base_url`` is the endpoint's URL
    without its path: ``attachments_path`` (chatkit-backend's ``/attachments`` routes) is
    under it.

    ``api_key`` is sent as ``Authorization: Bearer <key>`` (as ``X-API-Key`` when a
    ``bearer_token`` is given too); ``headers`` go with every request to the backend; ``transport``
    replaces the network (``httpx.ASGITransport(app)`` calls an app in-process).

    Errors: a non-2xx answer raises the ``ChatKitError`` subclass for its status (see
    ``chatkit_backend.client.errors``); a status without its own class, a 3xx included
    (redirects are not followed but by ``download_attachment``), raises ``ChatKitError``
    itself. A request that cannot be
    sent or gets no response raises ``TransportError`` (``RequestTimeout`` when it timed
    out), a connection lost while a body is being read too; an answer of the wrong shape
    raises ``ProtocolError``. After
    ``aclose``, every call raises ``RuntimeError`` (from httpx).
    """

    def __init__(
        self,
        url: str,
        *,
        path: str | None = None,
        api_key: str | None = None,
        bearer_token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        attachments_path: str = "/attachments",
    ) -> None:
        endpoint = split_endpoint(url, path)
        self.base_url = endpoint.base_url
        self.path = endpoint.path
        self.attachments_path = attachments_path.rstrip("/")
        sent: dict[str, str] = {"Accept": "application/json, text/event-stream"}
        if bearer_token:
            sent["Authorization"] = f"Bearer {bearer_token}"
            if api_key:
                sent["X-API-Key"] = api_key
        elif api_key:
            sent["Authorization"] = f"Bearer {api_key}"
        sent.update(headers or {})
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=sent, timeout=timeout, transport=transport
        )

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying ``httpx.AsyncClient`` and its pooled connections.

        Sends no request; ``async with`` calls it on exit. Any request made afterwards
        raises ``RuntimeError`` (from httpx).
        """
        await self._http.aclose()

    @property
    def endpoint(self) -> str:
        """The full URL of the ChatKit endpoint, as a ``str``: ``base_url + path``."""
        return self.base_url + self.path

    # -- transport ----------------------------------------------------------------------
    async def request(self, payload: BaseModel | Mapping[str, Any]) -> Any:
        """POST one non-streaming ChatKit request to the endpoint; return its decoded JSON.

        ``payload`` is a request model (``ThreadsListReq``, ...) or a mapping with its
        ``type`` and ``params``, sent as JSON without being checked. Returns the answer's
        JSON as decoded by ``json.loads`` (a ``dict`` from a ChatKit server), unvalidated;
        the typed methods validate it.

        Raises the ``ChatKitError`` subclass for the status when the server answers a
        non-2xx status (``BadRequest``, ``NotFound``, ``RateLimited``, ``ServerError``,
        ...); ``TransportError`` when the request cannot be sent or no response arrives
        (``RequestTimeout`` when that timed out); ``ProtocolError`` when the body is not
        JSON (an empty body included).
        """
        body = _encode(payload)
        async with self._send("POST", self.path, content=body, json_body=True) as response:
            content = await _read(response)
        return _decode_json(content, response)

    async def stream(
        self, payload: BaseModel | Mapping[str, Any]
    ) -> AsyncIterator[ThreadStreamEvent]:
        """POST one streaming ChatKit request; yield its ``ThreadStreamEvent``s as they arrive.

        An async generator: the request is sent when iteration starts, so every error below
        is raised from the ``async for``. An ``ErrorEvent`` the server sends in the stream
        is yielded like any other event, not raised.

        Raises the ``ChatKitError`` subclass for the status when the server answers a
        non-2xx status; ``TransportError`` when the request cannot be sent or no response
        arrives (``RequestTimeout`` when that timed out); ``ProtocolError`` when the answer
        is not ``text/event-stream`` or an event is not a valid ``ThreadStreamEvent``;
        ``RequestTimeout`` when the stream sends nothing for longer than the read timeout
        (120 s with ``DEFAULT_TIMEOUT``) and ``TransportError`` when it breaks off.
        """
        body = _encode(payload)
        async with self._send("POST", self.path, content=body, json_body=True) as response:
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            if media_type != "text/event-stream":
                content = await _read(response)
                raise ProtocolError(
                    f"expected text/event-stream, got {media_type or 'no content type'}: {content[:200]!r}",
                    status=response.status_code,
                )
            try:
                async for event in stream_events(response.aiter_lines()):
                    yield event
            except httpx.TimeoutException as exc:
                raise RequestTimeout(f"the stream went silent: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise TransportError(f"the stream broke off: {type(exc).__name__}: {exc}") from exc

    def _send(
        self,
        method: str,
        url: str,
        *,
        json_body: bool = False,
        headers: Mapping[str, str] | None = None,
        redirects: bool = False,
        **kwargs: Any,
    ) -> "_Exchange":
        sent = {**({"Content-Type": "application/json"} if json_body else {}), **(headers or {})}
        request = self._http.build_request(method, url, headers=sent or None, **kwargs)
        return _Exchange(self._http, request, redirects=redirects)

    def _same_origin(self, url: str) -> bool:
        target = httpx.URL(url)
        base = httpx.URL(self.base_url)
        return not target.is_absolute_url or (target.scheme, target.host, target.port) == (
            base.scheme,
            base.host,
            base.port,
        )

    # -- streaming operations -----------------------------------------------------------
    def create_thread(
        self,
        text: str | list[UserMessageContent],
        *,
        metadata: dict[str, Any] | None = None,
        **options: Unpack[MessageOptions],
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Start a new thread with a user message (``threads.create``); stream the response.

        ``text`` is the message's text or its content parts; ``options`` are those of
        ``user_input`` (``attachments`` as attachment ids, ``quoted_text``, ``model``,
        ``tool_choice`` as a tool id); ``metadata`` goes in the request's ``metadata``.
        Returns an async iterator of ``ThreadStreamEvent`` (see ``stream``), among them a
        ``ThreadCreatedEvent`` carrying the new thread and its id.

        Nothing is sent until iteration starts; iterating raises what ``stream`` raises: the
        ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an unknown
        attachment id), ``TransportError`` (``RequestTimeout`` on a timeout),
        ``ProtocolError`` for an answer that is not an event stream. An ``ErrorEvent`` in
        the stream is yielded, not raised.
        """
        message = user_input(text, **options)
        return self.stream(
            ThreadsCreateReq(params=ThreadCreateParams(input=message), metadata=metadata or {})
        )

    def add_user_message(
        self,
        thread_id: str,
        text: str | list[UserMessageContent],
        *,
        metadata: dict[str, Any] | None = None,
        **options: Unpack[MessageOptions],
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Add a user message to a thread (``threads.add_user_message``); stream the response.

        ``text``, ``options`` and ``metadata`` are as in ``create_thread``. Returns an async
        iterator of ``ThreadStreamEvent`` (see ``stream``).

        Nothing is sent until iteration starts; iterating raises what ``stream`` raises: the
        ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an unknown
        thread, ``Conflict`` while another reply streams on it), ``TransportError``
        (``RequestTimeout`` on a timeout), ``ProtocolError`` for an answer that is not an
        event stream. An ``ErrorEvent`` in the stream is yielded, not raised.
        """
        message = user_input(text, **options)
        params = ThreadAddUserMessageParams(thread_id=thread_id, input=message)
        return self.stream(ThreadsAddUserMessageReq(params=params, metadata=metadata or {}))

    def retry_after_item(self, thread_id: str, item_id: str) -> AsyncIterator[ThreadStreamEvent]:
        """Answer a user message again (``threads.retry_after_item``); stream the new response.

        ``item_id`` names a user message in the thread; the server removes the items after
        it and responds to it again. Returns an async iterator of ``ThreadStreamEvent``
        (see ``stream``).

        Nothing is sent until iteration starts; iterating raises what ``stream`` raises: the
        ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an unknown
        thread or item), ``TransportError`` (``RequestTimeout`` on a timeout),
        ``ProtocolError`` for an answer that is not an event stream. An ``ErrorEvent`` in
        the stream is yielded, not raised.
        """
        params = ThreadRetryAfterItemParams(thread_id=thread_id, item_id=item_id)
        return self.stream(ThreadsRetryAfterItemReq(params=params))

    def custom_action(
        self, thread_id: str, action_type: str, payload: Any = None, *, item_id: str | None = None
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Run an action in a thread (``threads.custom_action``); stream the response.

        Sends ``Action(type=action_type, payload=payload)``, from a widget or the client;
        ``item_id`` names the widget item the action came from, if any. Returns an async
        iterator of ``ThreadStreamEvent`` (see ``stream``).

        Nothing is sent until iteration starts; iterating raises what ``stream`` raises: the
        ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an unknown
        thread or item, ``NotConfigured`` for an action the server does not handle),
        ``TransportError`` (``RequestTimeout`` on a timeout), ``ProtocolError`` for an
        answer that is not an event stream. An ``ErrorEvent`` in the stream is yielded, not
        raised.
        """
        params = ThreadCustomActionParams(
            thread_id=thread_id, item_id=item_id, action=Action(type=action_type, payload=payload)
        )
        return self.stream(ThreadsCustomActionReq(params=params))

    def add_client_tool_output(
        self, thread_id: str, result: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Send a client tool's result (``threads.add_client_tool_output``); stream the response.

        ``result`` is any JSON-serialisable value, answering the thread's pending client
        tool call. Returns an async iterator of ``ThreadStreamEvent`` (see ``stream``).

        Nothing is sent until iteration starts; iterating raises what ``stream`` raises: the
        ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an unknown
        thread), ``TransportError`` (``RequestTimeout`` on a timeout), ``ProtocolError`` for
        an answer that is not an event stream. An ``ErrorEvent`` in the stream is yielded,
        not raised.
        """
        params = ThreadAddClientToolOutputParams(thread_id=thread_id, result=result)
        return self.stream(ThreadsAddClientToolOutputReq(params=params))

    def add_structured_input(
        self,
        thread_id: str,
        item_id: str,
        answers: StructuredInputSubmission | Mapping[str, Any],
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Answer a structured input item (``threads.add_structured_input``); stream the response.

        ``answers`` is a ``StructuredInputSubmission`` or a mapping validated into one
        (``pydantic.ValidationError`` at call time when it does not fit). Returns an async
        iterator of ``ThreadStreamEvent`` (see ``stream``).

        Nothing is sent until iteration starts; iterating raises what ``stream`` raises: the
        ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an unknown
        thread or item), ``TransportError`` (``RequestTimeout`` on a timeout),
        ``ProtocolError`` for an answer that is not an event stream. An ``ErrorEvent`` in
        the stream is yielded, not raised.
        """
        submission = (
            answers
            if isinstance(answers, StructuredInputSubmission)
            else StructuredInputSubmission.model_validate(answers)
        )
        params = ThreadAddStructuredInputParams(
            thread_id=thread_id, item_id=item_id, input=submission
        )
        return self.stream(ThreadsAddStructuredInputReq(params=params))

    async def send(
        self,
        text: str,
        thread_id: str | None = None,
        *,
        attachments: list[str] | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        """Send a message (a new thread when ``thread_id`` is None) and gather the reply.

        Sends ``threads.create`` without a ``thread_id``, else ``threads.add_user_message``;
        ``attachments`` are attachment ids. Reads the whole stream and returns a ``Reply``:
        the thread's id and title, the assistant's text, the finished items, the notices and
        every event. ``on_text`` receives each text delta as it arrives.

        Raises ``StreamError`` when the stream carries an ``ErrorEvent`` (``allow_retry``
        says whether a retry may help), and what ``stream`` raises: the ``ChatKitError``
        subclass for an error status, ``TransportError`` (``RequestTimeout`` on a
        timeout), ``ProtocolError`` for an answer that is not an event stream.
        """
        events = (
            self.create_thread(text, attachments=attachments)
            if thread_id is None
            else self.add_user_message(thread_id, text, attachments=attachments)
        )
        return await collect(events, thread_id=thread_id, on_text=on_text)

    # -- threads and items --------------------------------------------------------------
    async def get_thread(self, thread_id: str) -> Thread:
        """Load one thread with its first page of items (``threads.get_by_id``).

        Returns a ``Thread``: its metadata and ``items``, a ``Page[ThreadItem]``.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an
        unknown thread); ``TransportError`` (``RequestTimeout`` on a timeout) when no
        response arrives; ``ProtocolError`` when the answer is not a ``Thread``.
        """
        data = await self.request(
            ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id))
        )
        return _validate(THREAD, data)

    async def list_threads(
        self, limit: int | None = None, after: str | None = None, order: Order = "desc"
    ) -> Page[Thread]:
        """List threads, one page at a time (``threads.list``).

        ``limit`` caps the page's size (None: the server's default), ``after`` is the
        previous page's ``after`` cursor and ``order`` is ``"desc"`` (default) or ``"asc"``.
        Returns a ``Page[Thread]``: ``data``, ``has_more`` and ``after`` for the next page.

        Raises the ``ChatKitError`` subclass for an error status; ``TransportError``
        (``RequestTimeout`` on a timeout) when no response arrives; ``ProtocolError`` when
        the answer is not a ``Page[Thread]``.
        """
        params = ThreadListParams(limit=limit, after=after, order=order)
        return _validate(THREAD_PAGE, await self.request(ThreadsListReq(params=params)))

    async def list_items(
        self,
        thread_id: str,
        limit: int | None = None,
        after: str | None = None,
        order: Order = "desc",
    ) -> Page[ThreadItem]:
        """List a thread's items, one page at a time (``items.list``).

        ``limit``, ``after`` and ``order`` page as in ``list_threads``. Returns a
        ``Page[ThreadItem]``.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an
        unknown thread); ``TransportError`` (``RequestTimeout`` on a timeout) when no
        response arrives; ``ProtocolError`` when the answer is not a ``Page[ThreadItem]``.
        """
        params = ItemsListParams(thread_id=thread_id, limit=limit, after=after, order=order)
        return _validate(ITEM_PAGE, await self.request(ItemsListReq(params=params)))

    async def update_thread(self, thread_id: str, title: str) -> Thread:
        """Set a thread's title (``threads.update``); return the updated ``Thread``.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an
        unknown thread); ``TransportError`` (``RequestTimeout`` on a timeout) when no
        response arrives; ``ProtocolError`` when the answer is not a ``Thread``.
        """
        params = ThreadUpdateParams(thread_id=thread_id, title=title)
        return _validate(THREAD, await self.request(ThreadsUpdateReq(params=params)))

    async def delete_thread(self, thread_id: str) -> None:
        """Delete a thread and its items (``threads.delete``); return None.

        The answer's content is discarded, but it must be JSON.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an
        unknown thread); ``TransportError`` (``RequestTimeout`` on a timeout) when no
        response arrives; ``ProtocolError`` when the answer is not JSON.
        """
        await self.request(ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread_id)))

    async def feedback(self, thread_id: str, item_ids: list[str], kind: FeedbackKind) -> None:
        """Rate items of a thread (``items.feedback``); return None.

        ``kind`` is ``"positive"`` or ``"negative"``. The answer's content is discarded, but
        it must be JSON.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an
        unknown thread); ``TransportError`` (``RequestTimeout`` on a timeout) when no
        response arrives; ``ProtocolError`` when the answer is not JSON.
        """
        params = ItemFeedbackParams(thread_id=thread_id, item_ids=item_ids, kind=kind)
        await self.request(ItemsFeedbackReq(params=params))

    async def sync_custom_action(
        self, thread_id: str, action_type: str, payload: Any = None, *, item_id: str | None = None
    ) -> SyncCustomActionResponse:
        """Run an action and get one item update back (``threads.sync_custom_action``).

        Sends ``Action(type=action_type, payload=payload)``; ``item_id`` names the widget
        item the action came from, if any. Returns a ``SyncCustomActionResponse``: its
        ``updated_item`` is the changed ``ThreadItem``, or None.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an
        unknown thread or item); ``TransportError`` (``RequestTimeout`` on a timeout) when
        no response arrives; ``ProtocolError`` when the answer is not a
        ``SyncCustomActionResponse``.
        """
        params = ThreadCustomActionParams(
            thread_id=thread_id, item_id=item_id, action=Action(type=action_type, payload=payload)
        )
        return _validate(SYNC_ACTION, await self.request(ThreadsSyncCustomActionReq(params=params)))

    # -- attachments and audio ----------------------------------------------------------
    async def create_attachment(self, name: str, size: int, mime_type: str) -> Attachment:
        """Register an attachment (``attachments.create``); upload it with ``upload_attachment``.

        ``size`` is the file's size in bytes. Returns the new ``Attachment`` (a
        ``FileAttachment`` or ``ImageAttachment``); for a two-phase upload its
        ``upload_descriptor`` says where to send the bytes.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotConfigured``
        when the server has no attachment store); ``TransportError`` (``RequestTimeout`` on
        a timeout) when no response arrives; ``ProtocolError`` when the answer is not an
        ``Attachment``.
        """
        params = AttachmentCreateParams(name=name, size=size, mime_type=mime_type)
        return _validate(ATTACHMENT, await self.request(AttachmentsCreateReq(params=params)))

    async def upload_attachment(
        self,
        target: Attachment | AttachmentUploadDescriptor,
        data: bytes,
        *,
        name: str | None = None,
        mime_type: str | None = None,
    ) -> Attachment | None:
        """Send the file's bytes as the upload descriptor says (multipart field ``file``).

        Not a ChatKit request: ``data`` goes with the descriptor's method (``POST`` or
        ``PUT``) to its URL, with its headers. ``target`` is an ``Attachment`` from
        ``create_attachment`` or its ``AttachmentUploadDescriptor``; ``name`` and
        ``mime_type`` default to the attachment's (else ``upload`` and
        ``application/octet-stream``). Credentials go only to the backend's own origin,
        never to another host (a storage bucket). Returns the ``Attachment`` when the answer
        is one (chatkit-backend's is), else None.

        Raises ``ValueError`` when the attachment has no upload descriptor; the
        ``ChatKitError`` subclass for an error status, from any host; ``TransportError``
        (``RequestTimeout`` on a timeout) when no response arrives.
        """
        if isinstance(target, AttachmentUploadDescriptor):
            descriptor = target
        else:
            if target.upload_descriptor is None:
                raise ValueError(
                    f"attachment {target.id} has no upload descriptor (already uploaded?)"
                )
            descriptor = target.upload_descriptor
            name = name or target.name
            mime_type = mime_type or target.mime_type
        files = {"file": (name or "upload", data, mime_type or "application/octet-stream")}
        url = str(descriptor.url)
        if self._same_origin(url):
            exchange = self._send(descriptor.method, url, files=files, headers=descriptor.headers)
        else:
            request = httpx.Request(descriptor.method, url, headers=descriptor.headers, files=files)
            exchange = _Exchange(self._http, request)
        async with exchange as response:
            content = await _read(response)
        try:
            return ATTACHMENT.validate_json(content)
        except ValidationError:
            return None

    async def upload_direct(
        self, name: str, data: bytes, mime_type: str, *, url: str | None = None
    ) -> Attachment:
        """Direct upload: POST the file (multipart field ``file``) and get the attachment back.

        ``url`` defaults to chatkit-backend's ``<attachments_path>``; other backends name
        theirs in the ChatKit UI's ``uploadStrategy``. Not a ChatKit request: a multipart
        POST with the client's headers (credentials included), whatever host ``url`` names.
        Returns the new ``Attachment``.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``PayloadTooLarge``,
        ``NotConfigured`` without an attachment store); ``TransportError``
        (``RequestTimeout`` on a timeout) when no response arrives; ``ProtocolError`` when
        the answer is not an ``Attachment`` in JSON.
        """
        files = {"file": (name, data, mime_type)}
        async with self._send("POST", url or self.attachments_path, files=files) as response:
            content = await _read(response)
        return _validate(ATTACHMENT, _decode_json(content, response))

    async def download_attachment(self, attachment_id: str) -> bytes:
        """The stored bytes of an attachment (chatkit-backend's ``<attachments_path>/{id}/content``).

        Not a ChatKit request: a ``GET`` with the client's headers. Returns the whole body
        as ``bytes``.

        Raises the ``ChatKitError`` subclass for an error status (``NotFound`` for an
        unknown attachment or another user's); ``TransportError`` (``RequestTimeout`` on a
        timeout) when no response arrives or the body breaks off. One redirect is followed:
        chatkit-backend with S3 storage answers 307 to a presigned URL, fetched without the
        client's headers when it is on another origin (the backend's credentials never go
        to the storage); an error status there raises as above.
        """
        path = f"{self.attachments_path}/{attachment_id}/content"
        async with self._send("GET", path, redirects=True) as response:
            if not response.has_redirect_location:
                return await _read(response)
            target = response.url.join(response.headers["location"])
        if self._same_origin(str(target)):
            stored = self._send("GET", str(target))
        else:
            stored = _Exchange(self._http, httpx.Request("GET", target))
        async with stored as response:
            return await _read(response)

    async def delete_attachment(self, attachment_id: str) -> None:
        """Delete an attachment and its stored bytes (``attachments.delete``); return None.

        The answer's content is discarded, but it must be JSON.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotFound`` for an
        unknown attachment); ``TransportError`` (``RequestTimeout`` on a timeout) when no
        response arrives; ``ProtocolError`` when the answer is not JSON.
        """
        params = AttachmentDeleteParams(attachment_id=attachment_id)
        await self.request(AttachmentsDeleteReq(params=params))

    async def transcribe(self, audio: bytes, mime_type: str) -> TranscriptionResult:
        """Turn recorded speech into text (``input.transcribe``).

        ``audio`` is the recording's raw bytes, sent base64-encoded; ``mime_type`` is its
        type (e.g. ``audio/webm;codecs=opus``). Returns a ``TranscriptionResult``, its
        ``text`` the transcript.

        Raises the ``ChatKitError`` subclass for an error status (e.g. ``NotConfigured``
        when the server has no transcription model); ``TransportError`` (``RequestTimeout``
        on a timeout) when no response arrives; ``ProtocolError`` when the answer is not a
        ``TranscriptionResult``.
        """
        params = InputTranscribeParams(
            audio_base64=base64.b64encode(audio).decode("ascii"), mime_type=mime_type
        )
        return _validate(TRANSCRIPTION, await self.request(InputTranscribeReq(params=params)))


async def collect(
    events: AsyncIterator[ThreadStreamEvent],
    *,
    thread_id: str | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Reply:
    """Drain a stream into a ``Reply`` (``StreamError`` on an ``ErrorEvent``)."""
    collector = ReplyCollector(thread_id=thread_id, on_text=on_text)
    try:
        async for event in events:
            collector.add(event)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    return collector.finish()


class _Exchange:
    """One request whose response is open inside ``async with``; errors become ``ChatKitError``."""

    def __init__(
        self, http: httpx.AsyncClient, request: httpx.Request, *, redirects: bool = False
    ) -> None:
        self._http = http
        self._request = request
        self._redirects = redirects
        """Return a redirect (3xx with a ``Location``) instead of raising for it."""
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        with _transport_errors(f"{self._request.method} {self._request.url}"):
            response = await self._http.send(self._request, stream=True)
        self._response = response
        if response.is_success or (self._redirects and response.has_redirect_location):
            return response
        try:
            content = await response.aread()
        except httpx.HTTPError:
            content = b""
        finally:
            await response.aclose()
        raise error_from_response(response, content)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            await self._response.aclose()


@contextmanager
def _transport_errors(exchange: str) -> Iterator[None]:
    """httpx's errors inside as ``TransportError`` naming ``exchange`` (``RequestTimeout``
    for a timeout)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise RequestTimeout(f"{exchange} timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise TransportError(f"{exchange} failed: {type(exc).__name__}: {exc}") from exc


async def _read(response: httpx.Response) -> bytes:
    """The whole body of an open response; a connection lost meanwhile is ``TransportError``
    (``RequestTimeout`` when the read timed out)."""
    request = response.request
    with _transport_errors(f"reading the answer to {request.method} {request.url}"):
        return await response.aread()


def _encode(payload: BaseModel | Mapping[str, Any]) -> bytes:
    if isinstance(payload, BaseModel):
        return payload.model_dump_json(by_alias=True).encode()
    return json.dumps(payload).encode()


def _decode_json(content: bytes, response: httpx.Response) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        raise ProtocolError(
            f"expected JSON from {response.request.url}, got {content[:200]!r}",
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from None


def _validate(adapter: TypeAdapter[T], data: Any) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(
            f"unexpected answer shape: {exc.errors()[0]['msg']}: {str(data)[:200]}"
        ) from None


__all__ = ["DEFAULT_TIMEOUT", "ChatKitClient", "ChatKitError", "collect", "user_input"]
