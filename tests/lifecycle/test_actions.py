"""Widget actions without subclassing: ``create_app(actions={...})`` and the ``Actions``
decorator register streamed and sync handlers; an action nobody handles is 501
``not_configured`` before any stream, for both requests, and logs no traceback."""

import logging
from collections.abc import Iterator

import pytest

from chatkit_backend import Actions, create_app
from chatkit_backend.settings import Settings
from chatkit_backend.stores import BackendStore
from tests.lifecycle import extras
from tests.lifecycle.harness import STORE_KINDS, USER, Live, action, error_of, served, sync_action


@pytest.fixture(scope="module", params=STORE_KINDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """Actions from a registry (the decorator) plus one from a mapping."""
    registry = Actions()
    registry.update(extras.actions)
    registry.add("answer", extras.answer)
    with served(
        request.param, tmp_path_factory.mktemp("actions"), request, actions=registry
    ) as app:
        yield app


@pytest.fixture(scope="module", params=STORE_KINDS)
def mapped(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """Actions given as ``create_app(actions={"type": handler})``."""
    with served(
        request.param,
        tmp_path_factory.mktemp("mapped"),
        request,
        actions={"vote": extras.vote, "answer": extras.answer},
    ) as app:
        yield app


def _thread_with_widget(live: Live) -> str:
    thread_id, _ = live.create_thread("show me the poll")

    async def call(store: BackendStore) -> None:
        await store.add_thread_item(thread_id, extras.widget_item(thread_id), USER)

    live.run_store(call)
    return thread_id


def test_a_streamed_handler_gets_the_action_item_thread_and_context(live: Live) -> None:
    thread_id = _thread_with_widget(live)
    events = live.events(action(thread_id, "vote", "wdg_poll", choice="blue"))
    assert [e["type"] for e in events] == ["stream_options", "thread.item.done"]
    assert events[1]["item"]["content"][0]["text"] == "Thanks for voting blue"
    assert extras.CALLS[-1] == {
        "type": "vote",
        "payload": {"choice": "blue"},
        "item_id": "wdg_poll",
        "thread_id": thread_id,
        "user_id": "local",
    }
    saved = live.items(thread_id)[-1]
    assert saved["id"] == events[1]["item"]["id"]  # its items are saved like a reply's


def test_a_handler_with_a_server_parameter_lets_the_agent_answer(mapped: Live) -> None:
    thread_id = _thread_with_widget(mapped)
    events = mapped.events(action(thread_id, "answer", "wdg_poll"))
    done = [e["item"] for e in events if e["type"] == "thread.item.done"]
    assert [item["type"] for item in done] == ["assistant_message"]
    assert "offline model" in done[0]["content"][0]["text"]


def test_a_sync_handler_answers_the_updated_widget(live: Live) -> None:
    thread_id = _thread_with_widget(live)
    response = live.post(sync_action(thread_id, "toggle", "wdg_poll", text="Voted!"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    updated = response.json()["updated_item"]
    assert updated["id"] == "wdg_poll"
    assert updated["widget"]["children"] == [{"type": "Text", "value": "Voted!"}]


@pytest.mark.parametrize("request_type", ["threads.custom_action", "threads.sync_custom_action"])
def test_an_action_nobody_handles_is_501_before_any_stream_without_a_traceback(
    mapped: Live, request_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    thread_id = _thread_with_widget(mapped)
    body = action(thread_id, "unknown", "wdg_poll")
    body["type"] = request_type
    with caplog.at_level(logging.INFO):
        message = error_of(mapped.post(body), 501, "not_configured")
    assert message == (
        f"{request_type}: no handler for the widget action 'unknown': register one with "
        "create_app(actions={'unknown': handler}) or @actions.action('unknown') "
        "(docs/extending.md)"
    )
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_an_action_sent_the_other_way_than_its_handler_is_501_naming_the_fix(
    mapped: Live,
) -> None:
    thread_id = _thread_with_widget(mapped)
    message = error_of(
        mapped.post(sync_action(thread_id, "vote", "wdg_poll")), 501, "not_configured"
    )
    assert message == (
        "the widget action 'vote' was sent as threads.sync_custom_action, but its handler is "
        "streamed: register a sync handler for it, or set streaming: true (the default) on "
        "the widget's action"
    )


def test_a_handler_that_cannot_take_the_arguments_is_refused_when_registered() -> None:
    registry = Actions()

    async def wrong(action: object) -> None:
        return None

    with pytest.raises(TypeError, match=r"must take \(action, item, thread, context\)"):
        registry.add("wrong", wrong)
    registry.add("vote", extras.vote)
    with pytest.raises(ValueError, match="already has a streamed handler"):
        registry.add("vote", extras.vote)
    registry.add("vote", extras.toggle)  # a sync one too: one of each kind
    assert registry.types() == ["vote"]


def test_actions_need_a_backend_server(tmp_path: object) -> None:
    from chatkit.server import ChatKitServer

    class Plain(ChatKitServer[object]):
        def respond(self, thread, input_user_message, context):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    with pytest.raises(TypeError, match="needs the default server or a BackendServer"):
        create_app(
            Settings(database_url="memory://"),
            server=lambda store, attachments: Plain(store, attachments),
            actions={"vote": extras.vote},
        )
