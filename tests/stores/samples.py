"""Sample threads, items and attachments: one of every item type, filled in."""

from datetime import UTC, datetime, timedelta

from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomSummary,
    CustomTask,
    EndOfTurnItem,
    EntitySource,
    FileAttachment,
    FileSource,
    FileTask,
    GeneratedImage,
    GeneratedImageItem,
    HiddenContextItem,
    ImageAttachment,
    ImageTask,
    InferenceOptions,
    LockedStatus,
    SDKHiddenContextItem,
    SearchTask,
    StructuredInputAnswer,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    TaskItem,
    ThoughtTask,
    ThreadItem,
    ThreadMetadata,
    ToolChoice,
    URLSource,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)
from chatkit.widgets import Card, Text
from pydantic import AnyUrl

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456)  # naive, as the SDK's datetime.now() gives


def thread(thread_id: str = "thr_1", created_at: datetime = T0, **fields: object) -> ThreadMetadata:
    return ThreadMetadata(id=thread_id, created_at=created_at, **fields)  # type: ignore[arg-type]


def message(
    item_id: str, thread_id: str = "thr_1", created_at: datetime = T0, text: str = "hi"
) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=created_at,
        content=[AssistantMessageContent(text=text)],
    )


def file_attachment(attachment_id: str = "atc_1", thread_id: str | None = None) -> FileAttachment:
    return FileAttachment(
        id=attachment_id,
        name="notes.txt",
        mime_type="text/plain",
        thread_id=thread_id,
        metadata={"path": f"alice/{attachment_id}", "size": 12},
    )


def image_attachment(
    attachment_id: str = "atc_img", thread_id: str | None = None
) -> ImageAttachment:
    return ImageAttachment(
        id=attachment_id,
        name="cat.png",
        mime_type="image/png",
        preview_url=AnyUrl("https://example.com/preview/cat.png"),
        thread_id=thread_id,
        metadata={"width": 640},
    )


def every_item_type(thread_id: str = "thr_1") -> list[ThreadItem]:
    """One item of each type, a second apart, all fields that matter filled in."""
    at = [T0 + timedelta(seconds=i) for i in range(12)]
    return [
        UserMessageItem(
            id="msg_user",
            thread_id=thread_id,
            created_at=at[0],
            content=[
                UserMessageTextContent(text="Look at these"),
                UserMessageTagContent(
                    id="tag_1", text="@doc", data={"k": [1, 2]}, group="docs", interactive=True
                ),
            ],
            attachments=[file_attachment("atc_f", thread_id), image_attachment("atc_i", thread_id)],
            quoted_text="earlier words",
            inference_options=InferenceOptions(tool_choice=ToolChoice(id="search"), model="gpt-x"),
        ),
        AssistantMessageItem(
            id="msg_assistant",
            thread_id=thread_id,
            created_at=at[1],
            content=[
                AssistantMessageContent(
                    text="Here [1] and [2] and [3]",
                    annotations=[
                        Annotation(
                            source=URLSource(title="Site", url="https://example.com"), index=5
                        ),
                        Annotation(source=FileSource(title="Doc", filename="a.pdf")),
                        Annotation(source=EntitySource(title="Ent", id="e1", data={"x": 1})),
                    ],
                )
            ],
        ),
        ClientToolCallItem(
            id="tc_client",
            thread_id=thread_id,
            created_at=at[2],
            status="completed",
            call_id="call_1",
            name="get_location",
            arguments={"precise": True, "nested": {"a": [1, "b"]}},
            output={"lat": 1.5, "lon": -2.25},
        ),
        WidgetItem(
            id="wd_card",
            thread_id=thread_id,
            created_at=at[3],
            widget=Card(children=[Text(value="Hello widget")]),
            copy_text="Hello widget",
        ),
        GeneratedImageItem(
            id="img_gen",
            thread_id=thread_id,
            created_at=at[4],
            image=GeneratedImage(id="gi_1", url="https://example.com/gen.png"),
        ),
        StructuredInputItem(
            id="si_form",
            thread_id=thread_id,
            created_at=at[5],
            status="answered",
            inputs=[
                StructuredInputMultipleChoice(
                    id="q1",
                    question="Pick",
                    options=[StructuredInputMultipleChoiceOption(value="a")],
                    multiple=True,
                    answer=StructuredInputAnswer(values=["a"]),
                ),
                StructuredInputFreeform(id="q2", question="Why?", description="say"),
            ],
        ),
        WorkflowItem(
            id="wf_1",
            thread_id=thread_id,
            created_at=at[6],
            workflow=Workflow(
                type="reasoning",
                tasks=[
                    CustomTask(title="Plan", content="step", status_indicator="complete"),
                    SearchTask(
                        title="Search",
                        queries=["q"],
                        sources=[URLSource(title="S", url="https://s.example")],
                    ),
                    ThoughtTask(title="Think", content="hmm"),
                    FileTask(sources=[FileSource(title="F", filename="f.txt")]),
                    ImageTask(title="Img"),
                ],
                summary=CustomSummary(title="Done"),
                expanded=True,
            ),
        ),
        TaskItem(
            id="tsk_1",
            thread_id=thread_id,
            created_at=at[7],
            task=ThoughtTask(content="a thought", status_indicator="loading"),
        ),
        HiddenContextItem(
            id="hc_1", thread_id=thread_id, created_at=at[8], content={"facts": ["x", 1, None]}
        ),
        SDKHiddenContextItem(
            id="shcx_1", thread_id=thread_id, created_at=at[9], content="sdk note"
        ),
        EndOfTurnItem(id="eot_1", thread_id=thread_id, created_at=at[10]),
        AssistantMessageItem(
            id="msg_aware",
            thread_id=thread_id,
            created_at=datetime(2025, 3, 1, 12, 0, 11, tzinfo=UTC),
            content=[AssistantMessageContent(text="aware time")],
        ),
    ]


def locked_thread(thread_id: str = "thr_locked") -> ThreadMetadata:
    return ThreadMetadata(
        id=thread_id,
        title="Locked one",
        created_at=T0,
        status=LockedStatus(reason="read only"),
        allowed_image_domains=["example.com"],
        metadata={"project": "p1", "tags": ["a", "b"]},
    )
