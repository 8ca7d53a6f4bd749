"""``chatkit-backend import hosted`` against a fake hosted ChatKit server (real HTTP)."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from chatkit.types import FileAttachment, ImageAttachment, ThreadItem, ThreadMetadata

from chatkit_backend.context import RequestContext
from chatkit_backend.stores import open_store
from chatkit_backend.transfer.hosted import HostedImport
from chatkit_backend.transfer.hosted.attachments import HostedAttachments
from chatkit_backend.transfer.threads import all_items
from tests.cli.conftest import invoke
from tests.fakes.hosted_chatkit import PNG, HostedChatKit, assistant_message, user_message
from tests.transfer.hosted_data import (
    ALL_THREADS,
    COPIED_ITEMS,
    EVERY,
    T0,
    at,
    expected_every_items,
    seed,
)
from tests.transfer.seeding import files_in

KEY = "sk-hosted-test"
USER_MAP = {"u_alice": "alice@example.com"}


@pytest.fixture
def fake() -> Iterator[HostedChatKit]:
    with HostedChatKit(api_key=KEY) as running:
        seed(running)
        yield running


@pytest.fixture
def user_map(tmp_path: Path) -> Path:
    path = tmp_path / "users.json"
    path.write_text(json.dumps(USER_MAP))
    return path


def store_args(data_dir: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{data_dir}/chat.db", "--data-dir", str(data_dir)]


def run_import(fake: HostedChatKit, data_dir: Path, *args: str) -> Any:
    return invoke(
        "import", "hosted", "--api-key", KEY, "--base-url", fake.base_url,
        *store_args(data_dir), *args,
    )  # fmt: skip


def read_store(data_dir: Path) -> dict[str, tuple[str, ThreadMetadata, list[ThreadItem]]]:
    """Every thread in the store: id -> (owner, thread, items)."""

    async def read() -> dict[str, tuple[str, ThreadMetadata, list[ThreadItem]]]:
        store = open_store(f"sqlite:///{data_dir}/chat.db")
        try:
            rows = await store.admin_list_threads(None, limit=1000)
            return {
                row.thread.id: (
                    row.user_id,
                    row.thread,
                    await all_items(store, row.thread.id, RequestContext(user_id=row.user_id)),
                )
                for row in rows
            }
        finally:
            await store.close()

    return asyncio.run(read())


def test_import_copies_both_users_and_every_item_type(
    fake: HostedChatKit, tmp_path: Path, user_map: Path
) -> None:
    result = run_import(fake, tmp_path, "--all-users", "--user-map", str(user_map), "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["threads"] == {"found": 8, "new": 8, "updated": 0, "unchanged": 0, "failed": 0}
    assert summary["items"] == COPIED_ITEMS
    assert summary["unconvertible"] == {"chatkit.mystery": 1}
    assert summary["attachments"] == {"with_bytes": 2, "metadata_only": 1}
    assert summary["failures"] == [] and summary["interrupted"] is None
    # Pages: threads (8 with pages of 5) and the every-type thread's items (10) took two each.
    assert len(fake.api_requests("/v1/chatkit/threads")) >= 2
    assert len(fake.api_requests(f"/threads/{EVERY}/items")) == 2

    stored = read_store(tmp_path)
    assert set(stored) == ALL_THREADS
    owner, every, items = stored[EVERY]
    assert owner == "alice@example.com"
    assert (every.title, every.created_at, every.status.type) == ("Every type", at(0), "active")
    assert items[1:] == expected_every_items()
    assert stored["cthr_b0"][0] == "u_bob"
    assert stored["cthr_b0"][1].status.model_dump() == {"type": "locked", "reason": "read only"}
    assert stored["cthr_b1"][1].status.model_dump() == {"type": "closed", "reason": "done"}
    assert stored["cthr_b1"][1].title == "Closed" and stored["cthr_b0"][1].title is None
    assert every.metadata["hosted_chatkit"]["unconvertible"] == {"chatkit.mystery": 1}


def test_user_message_keeps_text_quote_options_and_attachments(
    fake: HostedChatKit, tmp_path: Path
) -> None:
    assert run_import(fake, tmp_path, "--user", "u_alice").exit_code == 0

    message = read_store(tmp_path)[EVERY][2][0]
    assert message.type == "user_message"
    assert [part.text for part in message.content] == ["Look at these"]
    assert message.quoted_text == "earlier words"
    assert message.created_at == at(10)
    assert message.inference_options.model == "gpt-5"
    assert message.inference_options.tool_choice is not None
    assert message.inference_options.tool_choice.id == "search"
    image, far, doc = message.attachments
    assert isinstance(image, ImageAttachment) and isinstance(far, ImageAttachment)
    assert isinstance(doc, FileAttachment)
    assert [a.metadata["hosted_attachment_id"] for a in message.attachments] == [  # type: ignore[index]
        "cfile_img", "cfile_far", "cfile_doc",
    ]  # fmt: skip
    assert {a.thread_id for a in message.attachments} == {EVERY}
    assert (doc.name, doc.mime_type) == ("doc.pdf", "application/pdf")
    assert not image.id.startswith("cfile_")  # bytes went through the attachment store
    files = files_in(tmp_path / "attachments")
    assert asyncio.run(files.read("u_alice", image)) == PNG
    assert asyncio.run(files.read("u_alice", far)) == PNG
    assert asyncio.run(files.read("u_alice", doc)) is None
    # The API key went to the API's origin only.
    downloads = {r.path: r.headers for r in fake.requests if r.path.startswith("/files/")}
    assert downloads["/files/cat.png"]["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in downloads["/files/far.png"]


def table_rows(stdout: str) -> dict[str, str]:
    """The summary table's rows: label -> count."""
    rows = [line.rsplit(None, 1) for line in stdout.splitlines()[2:] if line.strip()]
    return {label.strip(): count for label, count in rows}


def test_summary_table_lists_counts_and_unconvertible_types(
    fake: HostedChatKit, tmp_path: Path
) -> None:
    result = run_import(fake, tmp_path, "--all-users")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "Imported from hosted ChatKit."
    rows = table_rows(result.stdout)
    assert rows["threads found"] == rows["threads new"] == "8"
    assert rows["threads failed"] == "0"
    assert rows["items copied: user_message"] == "7"
    assert rows["items copied: workflow"] == "1"
    assert rows["items not convertible: chatkit.mystery"] == "1"
    assert rows["items skipped (already here)"] == "0"
    assert rows["attachments with their bytes"] == "2"
    assert rows["attachments with metadata only"] == "1"
    assert result.stderr == (
        "warning: hosted item types this version does not convert were left out: chatkit.mystery\n"
    )


def test_running_again_copies_nothing(fake: HostedChatKit, tmp_path: Path) -> None:
    first = run_import(fake, tmp_path, "--all-users")
    before = read_store(tmp_path)
    fake.requests.clear()

    second = run_import(fake, tmp_path, "--all-users", "--json")

    assert first.exit_code == 0 and second.exit_code == 0
    summary = json.loads(second.stdout)
    assert summary["threads"] == {"found": 8, "new": 0, "updated": 0, "unchanged": 8, "failed": 0}
    assert summary["items"] == {} and summary["unconvertible"] == {}
    assert summary["attachments"] == {"with_bytes": 0, "metadata_only": 0}
    assert read_store(tmp_path) == before
    # Each thread is read from where the first run stopped, not from the start.
    every = fake.api_requests(f"/threads/{EVERY}/items")
    assert [r.query.get("after") for r in every] == ["cthi_bye"]
    assert not any(r.path.startswith("/files/") for r in fake.requests)


def test_new_hosted_items_are_copied_on_the_next_run(fake: HostedChatKit, tmp_path: Path) -> None:
    assert run_import(fake, tmp_path, "--user", "u_bob").exit_code == 0
    fake.add_item(user_message("cthi_b0_more", "cthr_b0", T0 + 50, "same second, later"))
    fake.add_item(assistant_message("cthi_b0_reply", "cthr_b0", T0 + 900, "a reply"))

    result = run_import(fake, tmp_path, "--user", "u_bob", "--json")

    summary = json.loads(result.stdout)
    assert summary["threads"]["updated"] == 1 and summary["threads"]["unchanged"] == 1
    assert summary["items"] == {"user_message": 1, "assistant_message": 1}
    items = read_store(tmp_path)["cthr_b0"][2]
    assert [i.id for i in items] == ["cthi_b0_q", "cthi_b0_more", "cthi_b0_reply"]
    assert items[1].created_at == at(50) + (items[1].created_at - at(50))
    assert items[0].created_at < items[1].created_at < items[2].created_at


def test_dry_run_writes_nothing(fake: HostedChatKit, tmp_path: Path) -> None:
    result = run_import(fake, tmp_path, "--all-users", "--dry-run", "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dry_run"] is True
    assert summary["threads"]["new"] == 8
    assert summary["items"] == COPIED_ITEMS
    assert summary["attachments"] == {"with_bytes": 2, "metadata_only": 1}
    assert list(tmp_path.iterdir()) == []
    assert not any(r.path.startswith("/files/") for r in fake.requests)


def test_dry_run_on_an_existing_store_counts_only_what_is_missing(
    fake: HostedChatKit, tmp_path: Path
) -> None:
    assert run_import(fake, tmp_path, "--user", "u_bob").exit_code == 0
    before = read_store(tmp_path)
    files_before = sorted(p.name for p in tmp_path.rglob("*"))
    fake.add_item(assistant_message("cthi_b1_more", "cthr_b1", T0 + 70, "more"))

    result = run_import(fake, tmp_path, "--user", "u_bob", "--dry-run")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "Dry run: nothing was written."
    rows = table_rows(result.stdout)
    assert rows["items to copy: assistant_message"] == "1"
    assert rows["items skipped (already here)"] == "0"  # read after the saved cursor
    assert rows["threads with new items"] == "1"
    assert read_store(tmp_path) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == files_before


def test_a_429_is_retried_and_the_import_succeeds(fake: HostedChatKit, tmp_path: Path) -> None:
    fake.fail(429, times=1, path="/items")
    fake.fail(500, times=1, path="/v1/chatkit/threads")

    result = run_import(fake, tmp_path, "--all-users", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == COPIED_ITEMS
    assert [r.status for r in fake.api_requests() if r.status != 200] == [500, 429]
    assert set(read_store(tmp_path)) == ALL_THREADS


def test_an_interrupted_run_resumes_where_it_stopped(
    fake: HostedChatKit, tmp_path: Path, user_map: Path
) -> None:
    clean = tmp_path / "clean"
    assert run_import(fake, clean, "--all-users", "--user-map", str(user_map)).exit_code == 0
    fake.go_down_after(4)

    interrupted = run_import(fake, tmp_path / "resumed", "--all-users", "--user-map", str(user_map))

    assert interrupted.exit_code == 1
    assert interrupted.stdout.startswith("The import stopped before the end; what it copied stays.")
    assert "kept failing" in interrupted.stderr
    assert "run the same command again to continue" in interrupted.stderr
    partial = read_store(tmp_path / "resumed")
    assert 0 < sum(len(items) for _, _, items in partial.values()) < 24
    fake.recover()

    resumed = run_import(fake, tmp_path / "resumed", "--all-users", "--user-map", str(user_map))

    assert resumed.exit_code == 0, resumed.output
    assert _comparable(read_store(tmp_path / "resumed")) == _comparable(read_store(clean))


def _comparable(stored: dict[str, tuple[str, ThreadMetadata, list[ThreadItem]]]) -> Any:
    """The store's content with the ids attachments get on import (random) left out."""
    return {
        thread_id: (
            owner,
            thread,
            [
                item.model_dump(
                    exclude={"attachments": {"__all__": {"id", "preview_url", "metadata"}}}
                )
                for item in items
            ],
        )
        for thread_id, (owner, thread, items) in stored.items()
    }


async def test_a_run_stopped_mid_thread_continues_after_the_last_saved_page(
    fake: HostedChatKit, tmp_path: Path
) -> None:
    """One worker, so the order is known: the thread list (2 pages), then the every-type
    thread's first page of items; its second page fails."""
    store = open_store(f"sqlite:///{tmp_path}/chat.db")
    await store.open()
    fake.go_down_after(3)
    try:
        async with openai.AsyncOpenAI(api_key=KEY, base_url=fake.base_url, max_retries=1) as client:
            async with httpx.AsyncClient() as http:
                attachments = HostedAttachments(
                    store, None, http, api_base_url=fake.base_url, api_key=KEY
                )
                first = HostedImport(client, store, attachments, concurrency=1)
                summary = await first.run(await first.list_threads(None))
                assert summary.interrupted is not None and "HTTP 503" in summary.interrupted
                context = RequestContext(user_id="u_alice")
                saved = await all_items(store, EVERY, context)
                assert [item.id for item in saved] == [
                    "cthi_user", "cthi_answer", "cthi_widget", "cthi_call_done", "cthi_call_open",
                ]  # fmt: skip
                thread = await store.load_thread(EVERY, context)
                assert thread.metadata["hosted_chatkit"]["last_item_id"] == "cthi_call_open"

                fake.recover()
                fake.requests.clear()
                second = HostedImport(client, store, attachments, concurrency=1)
                summary = await second.run(await second.list_threads(None))
    finally:
        await store.close()

    assert summary.ok
    assert summary.threads_updated == 1 and summary.threads_new == 7
    items_requests = fake.api_requests(f"/threads/{EVERY}/items")
    assert items_requests[0].query["after"] == "cthi_call_open"


def test_one_user_only_and_since(fake: HostedChatKit, tmp_path: Path) -> None:
    since = at(300).strftime("%Y-%m-%dT%H:%M:%SZ")  # alice's threads 3, 4 and 5
    result = run_import(fake, tmp_path, "--user", "u_alice", "--since", since, "--json")

    assert result.exit_code == 0, result.output
    assert set(read_store(tmp_path)) == {"cthr_a3", "cthr_a4", "cthr_a5"}
    assert {r.query.get("user") for r in fake.api_requests("/v1/chatkit/threads")} >= {"u_alice"}


def test_the_user_map_alone_selects_its_users(
    fake: HostedChatKit, tmp_path: Path, user_map: Path
) -> None:
    result = run_import(fake, tmp_path, "--user-map", str(user_map))

    assert result.exit_code == 0
    owners = {owner for owner, _, _ in read_store(tmp_path).values()}
    assert owners == {"alice@example.com"}


def test_a_refused_key_stops_with_one_line_and_no_secret(
    fake: HostedChatKit, tmp_path: Path
) -> None:
    result = invoke(
        "import", "hosted", "--api-key", "sk-wrong-secret", "--base-url", fake.base_url,
        "--all-users", *store_args(tmp_path),
    )  # fmt: skip

    assert result.exit_code == 1
    assert result.stderr.startswith("error: listing hosted threads failed: HTTP 401")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "sk-wrong-secret" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "error: say whose threads to copy: --user U (repeatable), --all-users, or --user-map FILE",
        ),
        (["--user", "a", "--all-users"], "error: give --user or --all-users, not both"),
        (
            ["--all-users", "--since", "last week"],
            "error: --since: 'last week' is not a date; use 2025-01-31 or 2025-01-31T12:00:00Z",
        ),
        (["--user", ""], "error: --user must not be empty"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke(
        "import", "hosted", "--api-key", KEY, "--base-url", "http://127.0.0.1:9/v1",
        *store_args(tmp_path), *args,
    )  # fmt: skip

    assert result.exit_code == 2
    assert result.stderr == message + "\n"


def test_a_user_map_that_is_not_an_object_of_strings_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "map.json"
    bad.write_text('{"u_alice": 3}')

    result = invoke(
        "import", "hosted", "--api-key", KEY, "--user-map", str(bad), *store_args(tmp_path)
    )

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --user-map: {bad} must hold one JSON object")
