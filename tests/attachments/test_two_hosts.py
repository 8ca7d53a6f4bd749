"""Two hosts, one deployment: two ``chatkit-backend serve`` processes with their own data
folders and ports, one PostgreSQL database, one Redis, attachments in one S3 bucket (moto).

Upload through A, send through B, download and preview through B, delete through A: the
object is gone. Another user's download through either host is a 404. (The hosts share
the loopback interface: separate network namespaces would need root and veth plumbing
that these tests do not assume.)
"""

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from chatkit_backend.attachments.store import owner_key
from chatkit_backend.stores import migrations
from tests.attachments.helpers import png_bytes
from tests.support.bodies import create_body
from tests.support.live import run_serve, sse_events
from tests.support.pdf import pdf_with_text
from tests.support.s3 import S3Server

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(300)]

REDIS_URL = os.environ.get("CHATKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KEYS = {"key-alice": "alice", "key-bob": "bob"}
PREFIX = "uploads"
MAX_UPLOAD_BYTES = 1024 * 1024


@dataclass
class Host:
    name: str
    base_url: str
    data_dir: Path

    def post(self, body: dict[str, Any], key: str = "key-alice") -> httpx.Response:
        return httpx.post(
            f"{self.base_url}/chatkit", json=body, headers={"X-API-Key": key}, timeout=30
        )

    def get(self, path: str, key: str | None = "key-alice", **kwargs: Any) -> httpx.Response:
        headers = {"X-API-Key": key} if key else {}
        url = path if path.startswith("http") else self.base_url + path
        return httpx.get(url, headers=headers, timeout=30, **kwargs)


@dataclass
class Deployment:
    a: Host
    b: Host
    s3: S3Server
    bucket: str
    redis: redis.Redis
    redis_prefix: str

    def object_key(self, user: str, attachment_id: str) -> str:
        return f"{PREFIX}/{owner_key(user)}/{attachment_id}"

    def stored(self, user: str, attachment_id: str) -> bool:
        return self.object_key(user, attachment_id) in self.s3.keys(self.bucket)


@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        message = f"Redis at {REDIS_URL} is not available: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: Redis is required)")
        pytest.skip(message)
    yield client
    client.close()


@pytest.fixture(scope="module")
def deployment(
    s3: S3Server,
    postgres_url: str,
    redis_client: redis.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    bucket = s3.bucket()
    prefix = f"chatkit-test:{uuid.uuid4().hex}:"
    shared = {
        **s3.env,
        "CHATKIT_ATTACHMENTS_URL": f"s3://{bucket}/{PREFIX}",
        "CHATKIT_DATABASE_URL": postgres_url,
        "CHATKIT_DB_AUTO_UPGRADE": "false",  # migrated once, below
        "CHATKIT_REDIS_URL": REDIS_URL,
        "CHATKIT_REDIS_PREFIX": prefix,
        "CHATKIT_RATE_LIMIT_PER_MINUTE": "10000",
        "CHATKIT_AUTH": "api-key",
        "CHATKIT_API_KEYS": json.dumps(KEYS),
        "CHATKIT_SECRET_KEY": "two-hosts-shared-secret",
        "CHATKIT_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "CHATKIT_LOG_LEVEL": "WARNING",
    }
    migrations.upgrade(postgres_url)
    hosts = []
    with ExitStack() as stack:
        for name in ("a", "b"):
            data_dir = tmp_path_factory.mktemp(f"host-{name}")
            env = {**shared, "CHATKIT_DATA_DIR": str(data_dir)}
            base_url, _process = stack.enter_context(run_serve(env=env, timeout=120))
            hosts.append(Host(name, base_url, data_dir))
        yield Deployment(hosts[0], hosts[1], s3, bucket, redis_client, prefix)
        keys = list(redis_client.scan_iter(match=f"{prefix}*"))
        if keys:
            redis_client.delete(*keys)


def upload_through(host: Host, name: str, data: bytes, mime_type: str) -> dict[str, Any]:
    """``attachments.create`` on ``host``, then the bytes straight to the presigned URL."""
    created = host.post(
        {
            "type": "attachments.create",
            "params": {"name": name, "size": len(data), "mime_type": mime_type},
        }
    )
    assert created.status_code == 200, created.text
    attachment: dict[str, Any] = created.json()
    descriptor = attachment["upload_descriptor"]
    put = httpx.request(
        descriptor["method"], descriptor["url"], content=data, headers=descriptor["headers"]
    )
    assert put.status_code == 200, put.text
    return attachment


def test_upload_on_a_send_on_b_read_on_b_delete_on_a(deployment: Deployment) -> None:
    a, b = deployment.a, deployment.b
    image = png_bytes(5, 4)
    report = pdf_with_text(["The launch is on the 14th."])
    photo = upload_through(a, "photo.png", image, "image/png")
    document = upload_through(a, "plan.pdf", report, "application/pdf")
    assert deployment.stored("alice", photo["id"]) and deployment.stored("alice", document["id"])

    sent = b.post(create_body("here are the plan and a photo", [photo["id"], document["id"]]))
    assert sent.status_code == 200, sent.text
    thread_id = sse_events(sent.text)[0]["thread"]["id"]

    download = b.get(f"/attachments/{document['id']}/content", follow_redirects=True)
    assert download.status_code == 200 and download.content == report
    preview_on_b = b.base_url + "/attachments/" + photo["preview_url"].split("/attachments/", 1)[1]
    preview = b.get(preview_on_b, key=None, follow_redirects=True)  # as an <img>: no key
    assert preview.status_code == 200 and preview.content == image

    for host in (a, b):  # another user, either host: as if it did not exist
        for attachment in (photo, document):
            refused = host.get(f"/attachments/{attachment['id']}/content", key="key-bob")
            assert refused.status_code == 404
            assert (
                refused.json()["error"]["message"] == f"attachment {attachment['id']!r} not found"
            )
    assert not list(a.data_dir.rglob(photo["id"])) and not list(b.data_dir.rglob(photo["id"]))

    deleted = a.post({"type": "threads.delete", "params": {"thread_id": thread_id}})
    assert deleted.status_code == 200, deleted.text
    assert not deployment.stored("alice", photo["id"])
    assert not deployment.stored("alice", document["id"])
    assert b.get(f"/attachments/{photo['id']}/content").status_code == 404
    assert list(deployment.redis.scan_iter(match=f"{deployment.redis_prefix}*"))  # one Redis


def test_an_oversize_object_sent_through_the_other_host_is_refused_and_deleted(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    created = a.post(
        {
            "type": "attachments.create",
            "params": {"name": "small.txt", "size": 10, "mime_type": "text/plain"},
        }
    ).json()
    big = b"x" * (MAX_UPLOAD_BYTES + 1)
    put = httpx.put(
        created["upload_descriptor"]["url"], content=big, headers={"Content-Type": "text/plain"}
    )
    assert put.status_code == 200
    refused = b.post(create_body("big", [created["id"]]))
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert not deployment.stored("alice", created["id"])
