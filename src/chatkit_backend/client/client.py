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
from collections.abc import AsyncIterator, Callable, Mapping
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
        await self._http.aclose()

    @property
    def endpoint(self) -> str:
        """The full URL of the ChatKit endpoint."""
        return self.base_url + self.path

    # -- transport ----------------------------------------------------------------------
    async def request(self, payload: BaseModel | Mapping[str, Any]) -> Any:
        """POST a non-streaming request; return the decoded JSON answer."""
        body = _encode(payload)
        async with self._send("POST", self.path, content=body, json_body=True) as response:
            content = await response.aread()
        return _decode_json(content, response)

    async def stream(
        self, payload: BaseModel | Mapping[str, Any]
    ) -> AsyncIterator[ThreadStreamEvent]:
        """POST a streaming request; yield its events as they arrive."""
        body = _encode(payload)
        async with self._send("POST", self.path, content=body, json_body=True) as response:
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            if media_type != "text/event-stream":
                content = await response.aread()
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
        **kwargs: Any,
    ) -> "_Exchange":
        sent = {**({"Content-Type": "application/json"} if json_body else {}), **(headers or {})}
        request = self._http.build_request(method, url, headers=sent or None, **kwargs)
        return _Exchange(self._http, request)

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
        message = user_input(text, **options)
        params = ThreadAddUserMessageParams(thread_id=thread_id, input=message)
        return self.stream(ThreadsAddUserMessageReq(params=params, metadata=metadata or {}))

    def retry_after_item(self, thread_id: str, item_id: str) -> AsyncIterator[ThreadStreamEvent]:
        params = ThreadRetryAfterItemParams(thread_id=thread_id, item_id=item_id)
        return self.stream(ThreadsRetryAfterItemReq(params=params))

    def custom_action(
        self, thread_id: str, action_type: str, payload: Any = None, *, item_id: str | None = None
    ) -> AsyncIterator[ThreadStreamEvent]:
        params = ThreadCustomActionParams(
            thread_id=thread_id, item_id=item_id, action=Action(type=action_type, payload=payload)
        )
        return self.stream(ThreadsCustomActionReq(params=params))

    def add_client_tool_output(
        self, thread_id: str, result: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        params = ThreadAddClientToolOutputParams(thread_id=thread_id, result=result)
        return self.stream(ThreadsAddClientToolOutputReq(params=params))

    def add_structured_input(
        self,
        thread_id: str,
        item_id: str,
        answers: StructuredInputSubmission | Mapping[str, Any],
    ) -> AsyncIterator[ThreadStreamEvent]:
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

        ``on_text`` receives each text delta as it arrives. An ``ErrorEvent`` in the stream
        raises ``StreamError``.
        """
        events = (
            self.create_thread(text, attachments=attachments)
            if thread_id is None
            else self.add_user_message(thread_id, text, attachments=attachments)
        )
        return await collect(events, thread_id=thread_id, on_text=on_text)

    # -- threads and items --------------------------------------------------------------
    async def get_thread(self, thread_id: str) -> Thread:
        data = await self.request(
            ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id))
        )
        return _validate(THREAD, data)

    async def list_threads(
        self, limit: int | None = None, after: str | None = None, order: Order = "desc"
    ) -> Page[Thread]:
        params = ThreadListParams(limit=limit, after=after, order=order)
        return _validate(THREAD_PAGE, await self.request(ThreadsListReq(params=params)))

    async def list_items(
        self,
        thread_id: str,
        limit: int | None = None,
        after: str | None = None,
        order: Order = "desc",
    ) -> Page[ThreadItem]:
        params = ItemsListParams(thread_id=thread_id, limit=limit, after=after, order=order)
        return _validate(ITEM_PAGE, await self.request(ItemsListReq(params=params)))

    async def update_thread(self, thread_id: str, title: str) -> Thread:
        params = ThreadUpdateParams(thread_id=thread_id, title=title)
        return _validate(THREAD, await self.request(ThreadsUpdateReq(params=params)))

    async def delete_thread(self, thread_id: str) -> None:
        await self.request(ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread_id)))

    async def feedback(self, thread_id: str, item_ids: list[str], kind: FeedbackKind) -> None:
        params = ItemFeedbackParams(thread_id=thread_id, item_ids=item_ids, kind=kind)
        await self.request(ItemsFeedbackReq(params=params))

    async def sync_custom_action(
        self, thread_id: str, action_type: str, payload: Any = None, *, item_id: str | None = None
    ) -> SyncCustomActionResponse:
        params = ThreadCustomActionParams(
            thread_id=thread_id, item_id=item_id, action=Action(type=action_type, payload=payload)
        )
        return _validate(SYNC_ACTION, await self.request(ThreadsSyncCustomActionReq(params=params)))

    # -- attachments and audio ----------------------------------------------------------
    async def create_attachment(self, name: str, size: int, mime_type: str) -> Attachment:
        """Register an attachment (``attachments.create``); upload it with ``upload_attachment``."""
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

        Credentials go only to the backend's own origin, never to another host (a storage
        bucket). Returns the attachment when the answer is one (chatkit-backend's is).
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
            content = await response.aread()
        try:
            return ATTACHMENT.validate_json(content)
        except ValidationError:
            return None

    async def upload_direct(
        self, name: str, data: bytes, mime_type: str, *, url: str | None = None
    ) -> Attachment:
        """Direct upload: POST the file (multipart field ``file``) and get the attachment back.

        ``url`` defaults to chatkit-backend's ``<attachments_path>``; other backends name
        theirs in the ChatKit UI's ``uploadStrategy``.
        """
        files = {"file": (name, data, mime_type)}
        async with self._send("POST", url or self.attachments_path, files=files) as response:
            content = await response.aread()
        return _validate(ATTACHMENT, _decode_json(content, response))

    async def download_attachment(self, attachment_id: str) -> bytes:
        """The stored bytes of an attachment (chatkit-backend's ``<attachments_path>/{id}/content``)."""
        async with self._send(
            "GET", f"{self.attachments_path}/{attachment_id}/content"
        ) as response:
            return await response.aread()

    async def delete_attachment(self, attachment_id: str) -> None:
        params = AttachmentDeleteParams(attachment_id=attachment_id)
        await self.request(AttachmentsDeleteReq(params=params))

    async def transcribe(self, audio: bytes, mime_type: str) -> TranscriptionResult:
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

    def __init__(self, http: httpx.AsyncClient, request: httpx.Request) -> None:
        self._http = http
        self._request = request
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        try:
            response = await self._http.send(self._request, stream=True)
        except httpx.TimeoutException as exc:
            raise RequestTimeout(
                f"{self._request.method} {self._request.url} timed out ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise TransportError(
                f"{self._request.method} {self._request.url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        self._response = response
        if response.is_success:
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
