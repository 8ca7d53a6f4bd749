"""``chatkit-backend chat -m``: one message for scripts, against a real server."""

import asyncio
import json
from pathlib import Path

from chatkit_backend.client import ChatKitClient
from tests.cli.conftest import invoke
from tests.client.conftest import Live, live_settings, serve
from tests.support.live import free_port


def test_one_message_prints_the_reply_and_exits_zero(live: Live) -> None:
    result = invoke("chat", "--url", live.url, "-m", "hello from a script")

    assert result.exit_code == 0
    assert result.stdout.startswith("You wrote: “hello from a script”.")
    assert result.stdout.endswith("restart the server.\n")
    assert result.stderr == ""


def test_json_gives_the_thread_to_continue(live: Live) -> None:
    first = invoke("chat", "--url", live.url, "-m", "first", "--json")
    thread_id = json.loads(first.stdout)["thread_id"]
    second = invoke("chat", "--url", live.url, "-m", "second", "--thread", thread_id, "--json")

    assert first.exit_code == second.exit_code == 0
    answer = json.loads(second.stdout)
    assert answer["thread_id"] == thread_id
    assert answer["text"].startswith("You wrote: “second”.")
    assert _item_types(live.url, thread_id) == ["user_message", "assistant_message"] * 2


def _item_types(url: str, thread_id: str) -> list[str]:
    async def read() -> list[str]:
        async with ChatKitClient(url) as client:
            page = await client.list_items(thread_id, order="asc")
        return [item.type for item in page.data]

    return asyncio.run(read())


def test_a_server_error_goes_to_stderr_with_exit_one(live: Live) -> None:
    result = invoke("chat", "--url", live.url, "-m", "hi", "--thread", "thr_missing")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "error: 404 not_found: thread 'thr_missing' not found (request id "
    )


def test_an_unreachable_server_is_an_error() -> None:
    result = invoke(
        "chat", "--url", f"http://127.0.0.1:{free_port()}", "-m", "anyone?", "--timeout", "2"
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("error: transport_error: POST http://127.0.0.1:")
    assert "ConnectError" in result.stderr


def test_api_key_is_sent_and_its_absence_reported(tmp_path: Path) -> None:
    settings = live_settings(tmp_path, auth="api-key", api_keys={"k-carol": "carol"})
    with serve(settings) as running:
        refused = invoke("chat", "--url", running.url, "-m", "let me in")
        accepted = invoke("chat", "--url", running.url, "-m", "let me in", "--api-key", "k-carol")

    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: 401 unauthorized: ")
    assert accepted.exit_code == 0
    assert accepted.stdout.startswith("You wrote: “let me in”.")


def test_the_endpoint_url_of_a_front_end_works(live: Live) -> None:
    """``--url http://127.0.0.1:8000/chatkit``, as ``api.url`` holds it (it used to POST
    ``/chatkit/chatkit`` and answer 404)."""
    result = invoke("chat", "--url", f"{live.url}/chatkit", "-m", "by the endpoint")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("You wrote: “by the endpoint”.")


def test_a_custom_path_by_endpoint_url_or_by_path(tmp_path: Path) -> None:
    with serve(live_settings(tmp_path, path="/v1/chat")) as running:
        results = [
            invoke("chat", *args, "-m", "custom path", "--json")
            for args in (
                ["--url", f"{running.url}/v1/chat"],
                ["--url", running.url, "--path", "/v1/chat"],
                ["--url", f"{running.url}/v1/chat", "--path", "/v1/chat"],
            )
        ]
    assert [result.exit_code for result in results] == [0, 0, 0]
    assert all(json.loads(result.stdout)["text"].startswith("You wrote") for result in results)


def test_a_url_without_a_scheme_is_a_usage_error() -> None:
    result = invoke("chat", "--url", "127.0.0.1:8000/chatkit", "-m", "hi", env={"COLUMNS": "300"})

    assert result.exit_code == 2
    assert "'127.0.0.1:8000/chatkit' is not an http:// or https:// URL" in result.stderr
