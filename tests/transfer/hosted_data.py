"""The hosted ChatKit data the import tests copy: two users, pages of threads and items.

``u_alice`` has six threads (more than a page of five); the oldest, ``cthr_every``, holds
every item type the import converts, one type it does not know, and three attachments
(an image on the API's origin, an image elsewhere, a file without a URL), over two pages.
``u_bob`` has a locked thread and a closed one.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomTask,
    FileSource,
    TaskItem,
    ThoughtTask,
    URLSource,
    WidgetItem,
    Workflow,
    WorkflowItem,
)
from chatkit.widgets import Card, Text

from tests.fakes.hosted_chatkit import (
    HostedChatKit,
    assistant_message,
    item,
    thread,
    user_message,
)

T0 = 1_740_000_000
EVERY = "cthr_every"
WIDGET = Card(children=[Text(value="Hello widget")])
TICK = timedelta(microseconds=1)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def seed(fake: HostedChatKit) -> None:
    """Fill the fake with the data the tests expect (see the module docstring)."""
    near = fake.add_file("cat.png")
    far = fake.add_file("far.png").replace("127.0.0.1", "localhost")
    fake.add_thread(thread(EVERY, "u_alice", T0, title="Every type"), every_type_items(near, far))
    fake.add_item(
        item("cthi_mystery", EVERY, T0 + 16, "chatkit.mystery", payload={"x": 1}), unknown=True
    )
    fake.add_item(assistant_message("cthi_bye", EVERY, T0 + 17, "Bye"))
    for n in range(1, 6):
        tid = f"cthr_a{n}"
        fake.add_thread(
            thread(tid, "u_alice", T0 + 100 * n, title=f"Alice {n}"),
            [
                user_message(f"cthi_a{n}_q", tid, T0 + 100 * n, f"question {n}"),
                assistant_message(f"cthi_a{n}_r", tid, T0 + 100 * n, f"answer {n}"),
            ],
        )
    fake.add_thread(
        thread("cthr_b0", "u_bob", T0 + 50, status={"type": "locked", "reason": "read only"}),
        [user_message("cthi_b0_q", "cthr_b0", T0 + 50, "bob asks")],
    )
    fake.add_thread(
        thread("cthr_b1", "u_bob", T0 + 60, "Closed", {"type": "closed", "reason": "done"}),
        [assistant_message("cthi_b1_r", "cthr_b1", T0 + 60, "bob is answered")],
    )


def every_type_items(near: str, far: str) -> list[dict[str, Any]]:
    return [
        item(
            "cthi_user",
            EVERY,
            T0 + 10,
            "chatkit.user_message",
            content=[
                {"type": "input_text", "text": "Look at these"},
                {"type": "quoted_text", "text": "earlier words"},
            ],
            attachments=[
                {
                    "id": "cfile_img",
                    "type": "image",
                    "mime_type": "image/png",
                    "name": "cat.png",
                    "preview_url": near,
                },
                {
                    "id": "cfile_far",
                    "type": "image",
                    "mime_type": "image/png",
                    "name": "far.png",
                    "preview_url": far,
                },
                {
                    "id": "cfile_doc",
                    "type": "file",
                    "mime_type": "application/pdf",
                    "name": "doc.pdf",
                    "preview_url": None,
                },
            ],
            inference_options={"model": "gpt-5", "tool_choice": {"id": "search"}},
        ),
        assistant_message(
            "cthi_answer",
            EVERY,
            T0 + 10,
            "Here [1] and [2]",
            [
                {"type": "file", "source": {"type": "file", "filename": "a.pdf"}},
                {"type": "url", "source": {"type": "url", "url": "https://example.com/x"}},
            ],
        ),
        item("cthi_widget", EVERY, T0 + 10, "chatkit.widget", widget=WIDGET.model_dump_json()),
        item(
            "cthi_call_done",
            EVERY,
            T0 + 11,
            "chatkit.client_tool_call",
            name="get_location",
            call_id="call_1",
            arguments='{"precise": true}',
            output='{"lat": 1.5}',
            status="completed",
        ),
        item(
            "cthi_call_open",
            EVERY,
            T0 + 12,
            "chatkit.client_tool_call",
            name="pick",
            call_id="call_2",
            arguments="[1, 2]",
            output=None,
            status="in_progress",
        ),
        item(
            "cthi_thought",
            EVERY,
            T0 + 13,
            "chatkit.task",
            task_type="thought",
            heading="Thinking",
            summary="about it",
        ),
        item(
            "cthi_custom",
            EVERY,
            T0 + 14,
            "chatkit.task",
            task_type="custom",
            heading="Searching",
            summary=None,
        ),
        item(
            "cthi_group",
            EVERY,
            T0 + 15,
            "chatkit.task_group",
            tasks=[
                {"type": "custom", "heading": "Plan", "summary": "step"},
                {"type": "thought", "heading": None, "summary": "hmm"},
            ],
        ),
    ]


def expected_every_items() -> list[Any]:
    """The SDK items of ``cthr_every`` after the import, the user message aside (its
    attachments get new ids: the tests check it on its own)."""
    return [
        AssistantMessageItem(
            id="cthi_answer",
            thread_id=EVERY,
            created_at=at(10) + TICK,
            content=[
                AssistantMessageContent(
                    text="Here [1] and [2]",
                    annotations=[
                        Annotation(source=FileSource(title="a.pdf", filename="a.pdf")),
                        Annotation(
                            source=URLSource(
                                title="https://example.com/x", url="https://example.com/x"
                            )
                        ),
                    ],
                )
            ],
        ),
        WidgetItem(id="cthi_widget", thread_id=EVERY, created_at=at(10) + 2 * TICK, widget=WIDGET),
        ClientToolCallItem(
            id="cthi_call_done",
            thread_id=EVERY,
            created_at=at(11),
            status="completed",
            call_id="call_1",
            name="get_location",
            arguments={"precise": True},
            output={"lat": 1.5},
        ),
        ClientToolCallItem(
            id="cthi_call_open",
            thread_id=EVERY,
            created_at=at(12),
            status="pending",
            call_id="call_2",
            name="pick",
            arguments={"value": [1, 2]},
        ),
        TaskItem(
            id="cthi_thought",
            thread_id=EVERY,
            created_at=at(13),
            task=ThoughtTask(title="Thinking", content="about it"),
        ),
        TaskItem(
            id="cthi_custom", thread_id=EVERY, created_at=at(14), task=CustomTask(title="Searching")
        ),
        WorkflowItem(
            id="cthi_group",
            thread_id=EVERY,
            created_at=at(15),
            workflow=Workflow(
                type="custom",
                tasks=[CustomTask(title="Plan", content="step"), ThoughtTask(content="hmm")],
            ),
        ),
        AssistantMessageItem(
            id="cthi_bye",
            thread_id=EVERY,
            created_at=at(17),
            content=[AssistantMessageContent(text="Bye")],
        ),
    ]


ALL_THREADS = {EVERY, "cthr_a1", "cthr_a2", "cthr_a3", "cthr_a4", "cthr_a5", "cthr_b0", "cthr_b1"}
COPIED_ITEMS = {
    "user_message": 1 + 5 + 1,
    "assistant_message": 2 + 5 + 1,
    "widget": 1,
    "client_tool_call": 2,
    "task": 2,
    "workflow": 1,
}
