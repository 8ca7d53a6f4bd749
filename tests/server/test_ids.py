"""Ids every store can look up: NUL characters and huge feedback lists are refused with 422.

PostgreSQL refuses a NUL inside a text parameter and caps a statement at 32,767
parameters; without these checks both reached the database and answered 500.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.routes.live_app import error_of, make_settings, post, serve

NUL = "\u0000"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(make_settings(tmp_path_factory.mktemp("data"))) as (url, _app):
        yield url


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"type": "threads.get_by_id", "params": {"thread_id": f"thr_{NUL}x"}},
            "invalid threads.get_by_id request: params.thread_id: must not contain NUL characters",
        ),
        (
            {"type": "threads.list", "params": {"after": f"a{NUL}"}},
            "invalid threads.list request: params.after: must not contain NUL characters",
        ),
        (
            {"type": "attachments.delete", "params": {"attachment_id": f"atc_{NUL}"}},
            "invalid attachments.delete request: params.attachment_id: must not contain NUL characters",
        ),
        (
            {
                "type": "threads.create",
                "params": {
                    "input": {
                        "content": [{"type": "input_text", "text": "hi"}],
                        "attachments": [f"atc_{NUL}"],
                        "inference_options": {},
                    }
                },
            },
            "invalid threads.create request: params.input.attachments.0: must not contain NUL characters",
        ),
    ],
)
def test_ids_with_nul_characters_are_invalid(
    base_url: str, body: dict[str, object], message: str
) -> None:
    assert error_of(post(base_url, body), 422)["message"] == message


def test_feedback_on_too_many_items_is_invalid(base_url: str) -> None:
    body = {
        "type": "items.feedback",
        "params": {
            "thread_id": "thr_x",
            "item_ids": [f"msg_{i}" for i in range(1001)],
            "kind": "positive",
        },
    }
    assert error_of(post(base_url, body), 422)["message"] == (
        "invalid items.feedback request: params.item_ids: at most 1000 ids"
    )


def test_text_with_a_nul_character_is_still_a_message(base_url: str, tmp_path: Path) -> None:
    body = {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [{"type": "input_text", "text": f"a{NUL}b"}],
                "attachments": [],
                "inference_options": {},
            }
        },
    }
    response = post(base_url, body)
    assert response.status_code == 200
    assert '"type":"thread.created"' in response.text
