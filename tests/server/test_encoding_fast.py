"""The hand-written text delta event is byte for byte what the model's serializer writes."""

import pytest
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    CustomTask,
    ThreadItemUpdatedEvent,
    WorkflowTaskAdded,
)

from chatkit_backend.server.encoding import SSE_PREFIX, SSE_SUFFIX, sse_event, to_json

TEXTS = [
    "word ",
    "",
    'quote " and \\ backslash',
    "é 🙂 中文",
    "\n\t\r\x00\x1f\x7f",
    "\u2028\u2029",
    "</script>",
    "x" * 10_000,
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("content_index", [0, 3, 12345])
def test_text_delta_bytes_equal_the_serializer(text: str, content_index: int) -> None:
    event = ThreadItemUpdatedEvent(
        item_id=f'msg_{text[:3]}"',
        update=AssistantMessageContentPartTextDelta(content_index=content_index, delta=text),
    )
    assert sse_event(event) == SSE_PREFIX + to_json(event) + SSE_SUFFIX


def test_other_updates_take_the_serializer() -> None:
    event = ThreadItemUpdatedEvent(
        item_id="wf_1", update=WorkflowTaskAdded(task=CustomTask(title="step"), task_index=0)
    )
    assert sse_event(event) == SSE_PREFIX + to_json(event) + SSE_SUFFIX
