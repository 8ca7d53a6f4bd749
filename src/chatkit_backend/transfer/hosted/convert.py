"""Hosted ChatKit types (the ``openai`` package's) to the SDK's thread and item types.

=====================================  ==========================================
hosted item (``type``)                 SDK item
=====================================  ==========================================
``chatkit.user_message``               ``UserMessageItem``: ``input_text`` parts as
                                       text, ``quoted_text`` parts as its
                                       ``quoted_text``, attachments, inference options
``chatkit.assistant_message``          ``AssistantMessageItem``; file and URL
                                       annotations as ``FileSource``/``URLSource``
``chatkit.widget``                     ``WidgetItem`` (the serialized widget, parsed)
``chatkit.client_tool_call``           ``ClientToolCallItem`` (``in_progress`` is
                                       ``pending``; JSON arguments and output parsed)
``chatkit.task``                       ``TaskItem`` (``custom`` or ``thought`` task)
``chatkit.task_group``                 ``WorkflowItem`` of those tasks
=====================================  ==========================================

Any other type raises ``Unconvertible`` naming it: the importer counts and lists them.
Hosted times are whole seconds; the importer passes each item's ``created_at`` in.
"""

import json
from datetime import UTC, datetime
from typing import Any

from chatkit.types import (
    ActiveStatus,
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    Attachment,
    ClientToolCallItem,
    ClosedStatus,
    CustomTask,
    FileSource,
    InferenceOptions,
    LockedStatus,
    TaskItem,
    ThoughtTask,
    ThreadItem,
    ThreadMetadata,
    ThreadStatus,
    ToolChoice,
    URLSource,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)
from openai.types.beta.chatkit.chatkit_thread import ChatKitThread
from openai.types.beta.chatkit.chatkit_thread_assistant_message_item import (
    ChatKitThreadAssistantMessageItem,
)
from openai.types.beta.chatkit.chatkit_thread_item_list import (
    DataChatKitClientToolCall,
    DataChatKitTask,
    DataChatKitTaskGroup,
)
from openai.types.beta.chatkit.chatkit_thread_user_message_item import (
    ChatKitThreadUserMessageItem,
)
from openai.types.beta.chatkit.chatkit_widget_item import ChatKitWidgetItem
from pydantic import BaseModel, ValidationError

HOSTED_METADATA = "hosted_chatkit"
"""Key of the thread metadata where the import keeps the hosted thread's id, owner and
the last item it copied (so a rerun continues from there)."""

CONVERTIBLE: dict[str, type[BaseModel]] = {
    "chatkit.user_message": ChatKitThreadUserMessageItem,
    "chatkit.assistant_message": ChatKitThreadAssistantMessageItem,
    "chatkit.widget": ChatKitWidgetItem,
    "chatkit.client_tool_call": DataChatKitClientToolCall,
    "chatkit.task": DataChatKitTask,
    "chatkit.task_group": DataChatKitTaskGroup,
}


class Unconvertible(Exception):
    """A hosted item of a type this version does not convert."""

    def __init__(self, item_type: str) -> None:
        super().__init__(f"no conversion for hosted item type {item_type!r}")
        self.item_type = item_type


class InvalidHostedItem(Exception):
    """A hosted item of a known type whose body does not hold what the type needs."""


def timestamp(seconds: int) -> datetime:
    """A hosted Unix time (seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def hosted_type(item: Any) -> str:
    return str(getattr(item, "type", None) or "(no type)")


def parsed(item: Any) -> BaseModel:
    """The hosted item validated as its own type; ``Unconvertible`` or ``InvalidHostedItem``.

    The ``openai`` client builds response models without validating them (an unknown
    type comes back as some member of the union), so the body is validated again here.
    """
    kind = hosted_type(item)
    model = CONVERTIBLE.get(kind)
    if model is None:
        raise Unconvertible(kind)
    body = item.model_dump(mode="json") if isinstance(item, BaseModel) else item
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidHostedItem(f"{kind} {body.get('id')}: {where}: {error['msg']}") from None


def convert_thread(hosted: ChatKitThread) -> ThreadMetadata:
    """The thread's metadata: title, status and ``created_at`` kept; the hosted origin noted."""
    return ThreadMetadata(
        id=hosted.id,
        title=hosted.title,
        created_at=timestamp(hosted.created_at),
        status=convert_status(hosted.status),
        metadata={
            HOSTED_METADATA: {"thread_id": hosted.id, "user": hosted.user, "last_item_id": None}
        },
    )


def convert_status(status: Any) -> ThreadStatus:
    kind = getattr(status, "type", "active")
    reason = getattr(status, "reason", None)
    if kind == "locked":
        return LockedStatus(reason=reason)
    if kind == "closed":
        return ClosedStatus(reason=reason)
    return ActiveStatus()


def convert_item(
    item: BaseModel, thread_id: str, created_at: datetime, attachments: list[Attachment]
) -> ThreadItem:
    """The SDK item for a hosted item already ``parsed``; ``attachments`` are the user
    message's, already brought in (see ``attachments``)."""
    hosted: Any = item  # every hosted item type has an id
    base: dict[str, Any] = {
        "id": hosted.id,
        "thread_id": thread_id,
        "created_at": created_at,
    }
    match item:
        case ChatKitThreadUserMessageItem():
            return _user_message(item, base, attachments)
        case ChatKitThreadAssistantMessageItem():
            return AssistantMessageItem(
                **base,
                content=[
                    AssistantMessageContent(
                        text=part.text,
                        annotations=[_annotation(note) for note in part.annotations],
                    )
                    for part in item.content
                ],
            )
        case ChatKitWidgetItem():
            return _widget(item, base)
        case DataChatKitClientToolCall():
            return ClientToolCallItem(
                **base,
                status="completed" if item.status == "completed" else "pending",
                call_id=item.call_id,
                name=item.name,
                arguments=_arguments(item.arguments),
                output=None if item.output is None else _json_or_text(item.output),
            )
        case DataChatKitTask():
            return TaskItem(**base, task=_task(item.task_type, item.heading, item.summary))
        case DataChatKitTaskGroup():
            return WorkflowItem(
                **base,
                workflow=Workflow(
                    type="custom",
                    tasks=[_task(task.type, task.heading, task.summary) for task in item.tasks],
                ),
            )
    raise Unconvertible(hosted_type(item))  # pragma: no cover - parsed() admits only these


def _user_message(
    item: ChatKitThreadUserMessageItem, base: dict[str, Any], attachments: list[Attachment]
) -> ThreadItem:
    texts = [part.text for part in item.content if part.type == "input_text"]
    quoted = [part.text for part in item.content if part.type == "quoted_text"]
    options = item.inference_options
    tool_choice = options.tool_choice if options is not None else None
    return UserMessageItem(
        **base,
        content=[UserMessageTextContent(text=text) for text in texts],
        attachments=attachments,
        quoted_text="\n\n".join(quoted) if quoted else None,
        inference_options=InferenceOptions(
            model=options.model if options is not None else None,
            tool_choice=ToolChoice(id=tool_choice.id) if tool_choice is not None else None,
        ),
    )


def _annotation(note: Any) -> Annotation:
    if note.type == "file":
        filename = note.source.filename
        return Annotation(source=FileSource(title=filename, filename=filename))
    url = note.source.url
    return Annotation(source=URLSource(title=url, url=url))


def _widget(item: ChatKitWidgetItem, base: dict[str, Any]) -> ThreadItem:
    try:
        widget = json.loads(item.widget)
        return WidgetItem.model_validate({**base, "widget": widget})
    except (ValueError, ValidationError) as exc:
        raise InvalidHostedItem(
            f"chatkit.widget {item.id}: the widget is not a ChatKit widget the SDK reads "
            f"({type(exc).__name__})"
        ) from None


def _arguments(text: str) -> dict[str, Any]:
    value = _json_or_text(text)
    return value if isinstance(value, dict) else {"value": value}


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _task(kind: str, heading: str | None, summary: str | None) -> Any:
    if kind == "thought":
        return ThoughtTask(title=heading, content=summary or "")
    return CustomTask(title=heading, content=summary)
