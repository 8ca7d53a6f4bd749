"""@-mention tags reach the model keyed by what they point at (id and data), not by label:
the SDK's ``user_message_to_input`` keeps one tag per label and drops the others' data.
Everything else of the conversion is the SDK's, byte for byte."""

from datetime import datetime
from typing import Any

import pytest
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    InferenceOptions,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)

from chatkit_backend.responder.converter import BackendThreadItemConverter


def _message(*parts: Any, quoted: str | None = None) -> UserMessageItem:
    return UserMessageItem(
        id="msg_1",
        thread_id="thr_1",
        created_at=datetime(2025, 1, 1),
        content=list(parts),
        attachments=[],
        quoted_text=quoted,
        inference_options=InferenceOptions(),
    )


def _tag(text: str, tag_id: str, **data: Any) -> UserMessageTagContent:
    return UserMessageTagContent(id=tag_id, text=text, data=data)


def _text(text: str) -> UserMessageTextContent:
    return UserMessageTextContent(text=text)


SAME_AS_THE_SDK = {
    "text only": _message(_text("hello")),
    "quoted": _message(_text("this?"), quoted="a sentence"),
    "tags": _message(
        _text("Ask "), _tag("Alex", "u1", team="red"), _text(" and "), _tag("Sam", "u2")
    ),
    "a tag twice": _message(
        _tag("Alex", "u1", team="red"), _text(" or "), _tag("Alex", "u1", team="red")
    ),
}


@pytest.mark.parametrize("item", SAME_AS_THE_SDK.values(), ids=SAME_AS_THE_SDK.keys())
async def test_without_two_tags_of_one_label_the_input_is_the_sdks(item: UserMessageItem) -> None:
    ours = BackendThreadItemConverter()
    for last in (True, False):
        expected = await ThreadItemConverter.user_message_to_input(ours, item, last)
        assert await ours.user_message_to_input(item, last) == expected


async def test_two_people_with_one_name_both_reach_the_model() -> None:
    item = _message(
        _text("Compare "),
        _tag("Alex", "person", id="user_1"),
        _text(" and "),
        _tag("Alex", "person", id="user_2"),
    )
    converter = BackendThreadItemConverter()
    sdk: Any = await ThreadItemConverter.user_message_to_input(converter, item)
    ours: Any = await converter.user_message_to_input(item)
    assert ours[0] == sdk[0]  # the user's text, "Compare @Alex and @Alex"
    texts = [part["text"] for part in ours[-1]["content"]]
    assert texts[1:] == [
        '@Alex refers to: {"id": "user_1"}',
        '@Alex refers to: {"id": "user_2"}',
    ]
    sdk_texts = [part["text"] for part in sdk[-1]["content"]]
    assert sdk_texts[1:] == ['@Alex refers to: {"id": "user_1"}']  # the fault: user_2 lost
