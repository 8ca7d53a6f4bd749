"""Lifecycle over both storage backends: deleting a thread removes its attachments' bytes;
stale uploads are pruned (CLI and background)."""

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from chatkit_backend.cli.main import app as cli
from tests.attachments.conftest import BACKENDS, Live, live_app
from tests.attachments.helpers import (
    SECRET,
    TEXT_BODY,
    Client,
    png_bytes,
    thread_id_of,
)


def backdate(live: Live, attachment_id: str) -> None:
    """Make an attachment row look two days old (stands in for waiting out the TTL)."""
    with sqlite3.connect(live.settings.data_dir / "chatkit.db") as db:
        changed = db.execute(
            "UPDATE chatkit_attachments SET created_at = ? WHERE id = ?",
            ("2000-01-01 00:00:00.000000", attachment_id),
        ).rowcount
    assert changed == 1


def prune_cli(live: Live, *args: str) -> Result:
    """``chatkit-backend attachments prune ...`` in-process, configured by its environment."""
    env = {
        "CHATKIT_DATA_DIR": str(live.settings.data_dir),
        "CHATKIT_SECRET_KEY": SECRET,
        "CHATKIT_ATTACHMENTS_URL": live.settings.attachments_url,
        "CHATKIT_S3_ENDPOINT_URL": live.settings.s3_endpoint_url,
        "CHATKIT_S3_REGION": live.settings.s3_region,
    }
    return CliRunner().invoke(cli, ["attachments", "prune", *args], env=env, catch_exceptions=False)


def test_deleting_a_thread_removes_its_attachments_files(live: Live, alice: Client) -> None:
    image = alice.uploaded("a.png", png_bytes(), "image/png")
    notes = alice.uploaded("b.txt", b"notes", "text/plain")
    unrelated = alice.uploaded("c.txt", b"kept", "text/plain")
    thread_id = thread_id_of(alice.send("files", [image["id"], notes["id"]]))
    assert live.stored(alice, image) and live.stored(alice, notes)

    deleted = alice.chatkit({"type": "threads.delete", "params": {"thread_id": thread_id}})
    assert deleted.status_code == 200, deleted.text
    assert not live.stored(alice, image) and not live.stored(alice, notes)
    assert live.stored(alice, unrelated)
    assert alice.content(image["id"]).status_code == 404
    assert alice.content(notes["id"]).status_code == 404
    assert alice.content(unrelated["id"]).content == b"kept"


def attachments_in(value: Any) -> list[dict[str, Any]]:
    """Every attachment object (anything with a ``mime_type``) inside a JSON document."""
    if isinstance(value, dict):
        found = [value] if "mime_type" in value else []
        return found + [a for item in value.values() for a in attachments_in(item)]
    if isinstance(value, list):
        return [a for item in value for a in attachments_in(item)]
    return []


def test_metadata_never_reaches_the_client(alice: Client) -> None:
    created = alice.create("a.png", png_bytes(), "image/png")
    uploaded = alice.upload(created.json(), png_bytes())
    direct = alice.direct("b.txt", b"text", "text/plain")
    thread_id = thread_id_of(alice.send("see", [created.json()["id"], direct.json()["id"]]))
    listed = alice.chatkit({"type": "items.list", "params": {"thread_id": thread_id}})
    thread = alice.chatkit({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
    assert uploaded.status_code == 200, uploaded.text
    # Our upload route answers with the attachment; a presigned PUT to a bucket with nothing.
    answers = [created, direct, listed, thread] + ([uploaded] if uploaded.content else [])
    seen = 0
    for response in answers:
        assert response.status_code == 200, response.text
        for attachment in attachments_in(response.json()):
            assert "metadata" not in attachment
            seen += 1
        for secret in ("sha256", "declared_size", '"uploaded"', '"etag"'):
            assert secret not in response.text
    assert seen == len(answers) + 2  # one per answer, two in each of the two listings
    assert len(thread.json()["items"]["data"][0]["attachments"]) == 2


def test_prune_removes_only_stale_unsent_uploads(live: Live, alice: Client) -> None:
    stale = alice.uploaded("stale.txt", TEXT_BODY.encode(), "text/plain")
    never_uploaded = alice.created("never.txt", b"x", "text/plain")
    sent = alice.uploaded("sent.txt", b"sent", "text/plain")
    fresh = alice.uploaded("fresh.txt", b"fresh", "text/plain")
    thread_id_of(alice.send("with a file", [sent["id"]]))
    for attachment in (stale, never_uploaded, sent):
        backdate(live, attachment["id"])
    if live.s3 is None:
        partial = live.root / ".tmp" / "upload-interrupted.part"
        partial.parent.mkdir(exist_ok=True)
        partial.write_bytes(b"half")
        os.utime(partial, (time.time() - 3 * 86_400,) * 2)
    else:  # a multipart upload left open (moto dates every upload 2010)
        live.s3.client.create_multipart_upload(Bucket=live.bucket, Key="attachments/x/interrupted")
    assert live.partial_uploads()

    result = prune_cli(live, "--json")  # default: CHATKIT_ATTACHMENT_TTL (one day)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["attachment_ids"]) == sorted([stale["id"], never_uploaded["id"]])
    assert report == {
        "pruned": 2,
        "attachment_ids": report["attachment_ids"],
        "partial_uploads": 1,
        "older_than_seconds": 86_400,
    }
    assert not live.stored(alice, stale) and not live.partial_uploads()
    assert alice.content(stale["id"]).status_code == 404
    assert (
        alice.chatkit(
            {"type": "attachments.delete", "params": {"attachment_id": never_uploaded["id"]}}
        ).status_code
        == 404
    )
    assert alice.content(sent["id"]).content == b"sent"
    assert alice.content(fresh["id"]).content == b"fresh"


def test_prune_older_than_takes_a_duration_and_prints_a_summary(live: Live, alice: Client) -> None:
    fresh = alice.uploaded("fresh.txt", b"fresh", "text/plain")
    kept = prune_cli(live, "--older-than", "1h")
    assert kept.exit_code == 0, kept.output
    assert (
        kept.stdout.strip() == "pruned 0 stale upload(s) older than 3600s and 0 partial upload(s)"
    )
    assert alice.content(fresh["id"]).status_code == 200

    swept = prune_cli(live, "--older-than", "0s", "--json")
    assert fresh["id"] in json.loads(swept.stdout)["attachment_ids"]
    assert alice.content(fresh["id"]).status_code == 404


def test_prune_refuses_a_malformed_duration(live: Live) -> None:
    result = prune_cli(live, "--older-than", "soon")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: --older-than: 'soon' is not a duration: use seconds, or a number with s, m, h, d"
        " or w (e.g. 30d, 12h, 15m, 90s, 2w), or a sum such as 1d12h\n"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_background_task_prunes_when_an_interval_is_set(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    for live in live_app(backend, tmp_path, request, prune_interval=1, secret_key=SECRET):
        alice = live.client("alice")
        stale = alice.uploaded("stale.txt", b"old", "text/plain")
        fresh = alice.uploaded("fresh.txt", b"new", "text/plain")
        backdate(live, stale["id"])
        deadline = time.monotonic() + 10
        while live.stored(alice, stale) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not live.stored(alice, stale)
        assert alice.content(stale["id"]).status_code == 404
        assert alice.content(fresh["id"]).content == b"new"
