"""A fake of OpenAI's hosted ChatKit threads API, on a real uvicorn on 127.0.0.1.

It serves what ``client.beta.chatkit.threads`` reads: ``GET /v1/chatkit/threads``
(``user``, ``order``, ``after``, ``limit``) and ``GET /v1/chatkit/threads/{id}/items``,
as cursor pages (``{"object": "list", "data", "first_id", "last_id", "has_more"}``),
and attachment bytes at ``GET /files/{name}``. Pages hold at most ``page_cap`` rows
whatever the ``limit``, as a server may, so small data spans several pages.

Every body is built from the ``openai`` package's own types: threads and items are
validated as ``ChatKitThread`` and the thread item union when they are added, and every
page is validated again before it is sent. Items added with ``unknown=True`` are the
exception: they stand for a type the package does not know.

Faults: ``fail(status, times, path=...)`` answers the next matching requests with an
error (with ``retry-after-ms: 1``, so clients retry at once); ``go_down_after(n)`` lets
``n`` more API requests through and then fails every one until ``recover()``.
Every request is recorded (``requests``): path, query and headers.

    with HostedChatKit(api_key="sk-test") as fake:
        fake.add_thread(thread("cthr_1", user="u1"), [user_message("cthi_1", "cthr_1", "hi")])
        # chatkit-backend import hosted --api-key sk-test --base-url {fake.base_url} --all-users
"""

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, cast

from openai.types.beta.chatkit.chatkit_thread import ChatKitThread
from openai.types.beta.chatkit.chatkit_thread_item_list import ChatKitThreadItemList, Data
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.live import run_app

ITEM: TypeAdapter[Any] = TypeAdapter(cast(Any, Data))
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Fault:
    status: int
    times: int
    path: str = ""


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 200


@dataclass
class HostedChatKit:
    """The fake server; a context manager that runs it (see the module docstring)."""

    api_key: str = "sk-hosted-test"
    page_cap: int = 5
    threads: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    down_after: int | None = None
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # -- data -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The API base URL to give the ``openai`` client (``.../v1``)."""
        return f"{self.url}/v1"

    def add_thread(self, hosted: dict[str, Any], items: list[dict[str, Any]] | None = None) -> None:
        """A thread (validated as ``ChatKitThread``) and its items, oldest first."""
        body = ChatKitThread.model_validate(hosted).model_dump(mode="json")
        self.threads.append(body)
        self.items[body["id"]] = []
        for item in items or []:
            self.add_item(item)

    def add_item(self, item: dict[str, Any], *, unknown: bool = False) -> None:
        """An item of its thread (validated as the thread item union unless ``unknown``)."""
        body = item if unknown else ITEM.validate_python(item).model_dump(mode="json")
        self.items[body["thread_id"]].append(body)

    def add_file(self, name: str, data: bytes = PNG, content_type: str = "image/png") -> str:
        """Bytes at ``/files/<name>``; returns the URL."""
        self.files[name] = (data, content_type)
        return f"{self.url}/files/{name}"

    # -- faults ---------------------------------------------------------------------------
    def fail(self, status: int, times: int = 1, path: str = "") -> None:
        """Answer the next ``times`` API requests whose path holds ``path`` with ``status``."""
        with self._lock:
            self.faults.append(Fault(status, times, path))

    def go_down_after(self, requests: int) -> None:
        """Let ``requests`` more API requests through, then answer 503 to all of them."""
        with self._lock:
            self.down_after = requests

    def recover(self) -> None:
        with self._lock:
            self.down_after = None
            self.faults.clear()

    def api_requests(self, path: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/v1/") and path in r.path]

    # -- serving --------------------------------------------------------------------------
    def __enter__(self) -> "HostedChatKit":
        self._stack = contextlib.ExitStack()
        self.url = self._stack.enter_context(run_app(self._app()))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/healthz", lambda request: Response("ok")),
                Route("/v1/chatkit/threads", self._list_threads),
                Route("/v1/chatkit/threads/{thread_id}/items", self._list_items),
                Route("/files/{name}", self._file),
            ]
        )

    def _record(self, request: Request) -> Recorded:
        recorded = Recorded(request.url.path, dict(request.query_params), dict(request.headers))
        with self._lock:
            self.requests.append(recorded)
        return recorded

    def _fault(self, request: Request, recorded: Recorded) -> Response | None:
        """The error to answer instead, if one is due; checks the key and beta header too."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key", recorded)
        if request.headers.get("openai-beta") != "chatkit_beta=v1":
            return _error(400, "missing OpenAI-Beta: chatkit_beta=v1", "invalid_request", recorded)
        with self._lock:
            if self.down_after is not None:
                if self.down_after <= 0:
                    return _error(503, "The service is down.", "server_error", recorded)
                self.down_after -= 1
            for fault in self.faults:
                if fault.times > 0 and fault.path in request.url.path:
                    fault.times -= 1
                    return _error(fault.status, "Try again.", "rate_limit_exceeded", recorded)
        return None

    async def _list_threads(self, request: Request) -> Response:
        recorded = self._record(request)
        if (fault := self._fault(request, recorded)) is not None:
            return fault
        query = request.query_params
        rows = [t for t in self.threads if query.get("user") in (None, t["user"])]
        page = _page(rows, query, self.page_cap)
        for row in page["data"]:
            ChatKitThread.model_validate(row)
        return JSONResponse(page)

    async def _list_items(self, request: Request) -> Response:
        recorded = self._record(request)
        if (fault := self._fault(request, recorded)) is not None:
            return fault
        thread_id = request.path_params["thread_id"]
        if thread_id not in self.items:
            return _error(404, f"No thread found with id '{thread_id}'.", "not_found", recorded)
        query = request.query_params
        if query.get("after") and all(i["id"] != query["after"] for i in self.items[thread_id]):
            return _error(400, "after: no such item", "invalid_request", recorded)
        page = _page(self.items[thread_id], query, self.page_cap)
        known = [row for row in page["data"] if row["type"] in _KNOWN_TYPES]
        ChatKitThreadItemList.model_validate({**page, "data": known})
        return JSONResponse(page)

    async def _file(self, request: Request) -> Response:
        self._record(request)
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        return Response(found[0], media_type=found[1])


_KNOWN_TYPES = {
    "chatkit.user_message",
    "chatkit.assistant_message",
    "chatkit.widget",
    "chatkit.client_tool_call",
    "chatkit.task",
    "chatkit.task_group",
}


def _page(rows: list[dict[str, Any]], query: Any, cap: int) -> dict[str, Any]:
    """A cursor page of ``rows`` (kept oldest first) in the asked order, after ``after``."""
    ordered = sorted(rows, key=lambda row: row["created_at"])  # stable: insertion order ties
    if query.get("order", "desc") == "desc":
        ordered = ordered[::-1]
    after = query.get("after")
    if after:
        index = next(i for i, row in enumerate(ordered) if row["id"] == after)
        ordered = ordered[index + 1 :]
    limit = min(int(query.get("limit", 20)), cap)
    data = ordered[:limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(ordered) > limit,
    }


def _error(status: int, message: str, code: str, recorded: Recorded) -> Response:
    recorded.status = status
    return JSONResponse(
        {"error": {"message": message, "type": code, "param": None, "code": code}},
        status_code=status,
        headers={"retry-after-ms": "1"},
    )


# -- builders: bodies of the hosted types -------------------------------------------------
def thread(
    thread_id: str,
    user: str,
    created_at: int,
    title: str | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": thread_id,
        "object": "chatkit.thread",
        "created_at": created_at,
        "title": title,
        "status": status or {"type": "active"},
        "user": user,
    }


def item(item_id: str, thread_id: str, created_at: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "chatkit.thread_item",
        "thread_id": thread_id,
        "created_at": created_at,
        "type": kind,
        **fields,
    }


def user_message(
    item_id: str, thread_id: str, created_at: int, text: str, **fields: Any
) -> dict[str, Any]:
    return item(
        item_id,
        thread_id,
        created_at,
        "chatkit.user_message",
        content=[{"type": "input_text", "text": text}],
        attachments=fields.pop("attachments", []),
        inference_options=fields.pop("inference_options", None),
        **fields,
    )


def assistant_message(
    item_id: str, thread_id: str, created_at: int, text: str, annotations: list[Any] | None = None
) -> dict[str, Any]:
    return item(
        item_id,
        thread_id,
        created_at,
        "chatkit.assistant_message",
        content=[{"type": "output_text", "text": text, "annotations": annotations or []}],
    )
