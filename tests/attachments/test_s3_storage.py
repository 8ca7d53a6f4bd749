"""S3 storage specifics (moto's server): presigned uploads verified on next use, refused
objects deleted, presigned downloads for the owner only, streamed direct uploads, and a
bucket that cannot be reached."""

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from chatkit_backend.attachments.store import owner_key
from tests.attachments.conftest import MAX_UPLOAD_BYTES, S3_PREFIX, Live, live_app
from tests.attachments.helpers import SECRET, Client, error_of, fetch, png_bytes
from tests.support.bodies import create_body
from tests.support.live import free_port
from tests.support.s3 import S3Server

TOO_LARGE = f"file is larger than the limit of {MAX_UPLOAD_BYTES} bytes (CHATKIT_MAX_UPLOAD_BYTES)"
ALLOWED = "image/png, image/jpeg, image/gif, image/webp, text/*, application/pdf, application/json"


@pytest.fixture(scope="module")
def live(s3_live: Live) -> Live:
    return s3_live


def key_of(client: Client, attachment: dict[str, object]) -> str:
    return f"{S3_PREFIX}/{owner_key(client.user)}/{attachment['id']}"


def put_straight(attachment: dict[str, object], data: bytes, content_type: str) -> None:
    """What a client may do with a presigned URL: PUT anything (moto checks no signature)."""
    descriptor = attachment["upload_descriptor"]
    assert isinstance(descriptor, dict)
    response = httpx.put(descriptor["url"], content=data, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


def test_an_upload_is_verified_and_recorded_on_its_first_use(live: Live, alice: Client) -> None:
    created = alice.created("notes.txt", b"hello", "text/plain")
    put_straight(created, b"hello", "text/plain")
    assert live.stored(alice, created)  # in the bucket, not yet checked by the server
    response = alice.chatkit(create_body("read", [created["id"]]))
    assert response.status_code == 200, response.text
    head = live.s3.client.head_object(Bucket=live.bucket, Key=key_of(alice, created))  # type: ignore[union-attr]
    assert head["ContentLength"] == 5 and head["ContentType"] == "text/plain"
    assert alice.content(created["id"]).content == b"hello"


def test_an_oversize_object_put_straight_to_the_bucket_is_refused_and_deleted(
    live: Live, alice: Client
) -> None:
    created = alice.created("small.txt", b"x" * 10, "text/plain")  # declared small
    put_straight(created, b"x" * (MAX_UPLOAD_BYTES + 1), "text/plain")
    assert live.stored(alice, created)

    error = error_of(alice.chatkit(create_body("big", [created["id"]])), 413)
    assert error == {**error, "code": "payload_too_large", "message": TOO_LARGE}
    assert not live.stored(alice, created)
    again = error_of(alice.chatkit(create_body("big", [created["id"]])), 409)
    assert again["message"] == f"attachment {created['id']!r} has not been uploaded yet"


def test_an_oversize_object_is_refused_on_download_too(live: Live, alice: Client) -> None:
    created = alice.created("small.txt", b"x" * 10, "text/plain")
    put_straight(created, b"x" * (MAX_UPLOAD_BYTES + 1), "text/plain")
    assert error_of(alice.content(created["id"]), 413)["message"] == TOO_LARGE
    assert not live.stored(alice, created)


def test_an_object_of_a_type_not_allowed_is_refused_and_deleted(live: Live, alice: Client) -> None:
    created = alice.created("notes.txt", b"MZ\x90\x00", "text/plain")
    put_straight(created, b"MZ\x90\x00", "application/x-msdownload")

    error = error_of(alice.chatkit(create_body("run it", [created["id"]])), 415)
    assert error["code"] == "unsupported_media_type"
    assert error["message"] == (
        f"attachment type 'application/x-msdownload' is not allowed; allowed: {ALLOWED} "
        "(CHATKIT_ALLOWED_MIME_TYPES)"
    )
    assert not live.stored(alice, created)


def test_an_image_object_that_is_not_an_image_is_refused_at_its_preview_and_deleted(
    live: Live, alice: Client
) -> None:
    created = alice.created("fake.png", b"<script>alert(1)</script>", "image/png")
    put_straight(created, b"<script>alert(1)</script>", "image/png")

    error = error_of(fetch(created["preview_url"]), 415)
    assert error["message"] == "file is declared as image/png but its bytes are not an image"
    assert not live.stored(alice, created)
    refused = error_of(alice.chatkit(create_body("see", [created["id"]])), 409)
    assert refused["message"] == f"attachment {created['id']!r} has not been uploaded yet"


def test_downloads_and_previews_are_short_lived_presigned_urls_for_the_owner_only(
    live: Live, alice: Client, bob: Client
) -> None:
    image = alice.uploaded("photo.png", png_bytes(), "image/png")
    for response in (
        alice.content(image["id"], follow_redirects=False),
        httpx.get(image["preview_url"], timeout=10),
    ):
        assert response.status_code == 307
        assert response.headers["cache-control"] == "no-store"
        target = urlsplit(response.headers["location"])
        assert f"{target.scheme}://{target.netloc}" == live.s3.endpoint  # type: ignore[union-attr]
        assert target.path == f"/{live.bucket}/{key_of(alice, image)}"
        query = parse_qs(target.query)
        assert query["X-Amz-Expires"] == ["300"]
        assert query["response-content-type"] == ["image/png"]
    refused = bob.content(image["id"], follow_redirects=False)
    assert error_of(refused, 404)["message"] == f"attachment {image['id']!r} not found"
    assert "location" not in refused.headers


def test_a_large_direct_upload_streams_to_the_bucket_in_parts(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = bytes(range(256)) * (12 * 1024 * 1024 // 256)  # 12 MiB: three 5 MiB parts at most
    for live in live_app("s3", tmp_path, request, max_upload_bytes=16 * 1024 * 1024):
        alice = live.client("alice")
        response = alice.direct("big.bin.txt", data, "text/plain")
        assert response.status_code == 200, response.text
        attachment = response.json()
        assert live.s3 is not None
        head = live.s3.client.head_object(Bucket=live.bucket, Key=key_of(alice, attachment))
        assert head["ContentLength"] == len(data)
        assert head["ETag"].endswith('-3"')  # a multipart upload of three parts
        assert not live.partial_uploads()
        assert alice.content(attachment["id"]).content == data


def test_an_oversize_direct_upload_leaves_no_object_nor_open_upload(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    limit = 6 * 1024 * 1024  # past one part: the upload was already multipart when refused
    for live in live_app("s3", tmp_path, request, max_upload_bytes=limit):
        alice = live.client("alice")
        response = alice.direct("big.txt", b"x" * (limit + 1), "text/plain")
        assert error_of(response, 413)["code"] == "payload_too_large"
        assert live.stored_ids() == []
        assert live.partial_uploads() == []


def test_an_unreachable_bucket_answers_503(
    tmp_path: Path, s3: S3Server, request: pytest.FixtureRequest
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = {"s3_endpoint_url": endpoint, "secret_key": SECRET}
    for live in live_app("s3", tmp_path, request, **settings):
        alice = live.client("alice")
        started = time.monotonic()
        error = error_of(alice.direct("a.txt", b"abc", "text/plain"), 503)
        assert error["code"] == "storage_unavailable"
        assert error["message"] == (
            f"attachment storage s3://{live.bucket}/{S3_PREFIX} is unavailable: "
            "EndpointConnectionError"
        )
        assert time.monotonic() - started < 30


async def test_the_client_downloads_through_the_presigned_redirect_without_its_headers(
    live: Live, alice: Client
) -> None:
    """``ChatKitClient.download_attachment`` follows the 307 to the bucket; the backend's
    headers stay with the backend (a presigned URL carries its own signature)."""
    from chatkit_backend.client import ChatKitClient

    data = b"stored in the bucket"
    note = alice.uploaded("note.txt", data, "text/plain")
    async with ChatKitClient(
        f"{live.base_url}/chatkit", headers={**alice.headers, "Authorization": "Bearer secret"}
    ) as client:
        assert await client.download_attachment(note["id"]) == data


def test_readyz_checks_the_bucket(
    tmp_path: Path, s3: S3Server, request: pytest.FixtureRequest
) -> None:
    """Ready names the storage; a bucket that does not exist is a 503 naming it, and so is
    an endpoint nobody answers at."""
    for live in live_app("s3", tmp_path / "ok", request, secret_key=SECRET):
        ready = httpx.get(f"{live.base_url}/readyz", timeout=30)
        assert (ready.status_code, ready.json()["attachments"]) == (200, "s3")
    missing = {**s3.settings("no-such-bucket", S3_PREFIX), "secret_key": SECRET}
    for live in live_app("file", tmp_path / "missing", request, **missing):
        error = error_of(httpx.get(f"{live.base_url}/readyz", timeout=30), 503)
        assert error["code"] == "storage_unavailable"
        assert error["message"] == (
            f"attachment storage s3://no-such-bucket/{S3_PREFIX}: "
            "bucket 'no-such-bucket' does not exist"
        )
    nobody = {"s3_endpoint_url": f"http://127.0.0.1:{free_port()}", "secret_key": SECRET}
    for live in live_app("s3", tmp_path / "nobody", request, **nobody):
        error = error_of(httpx.get(f"{live.base_url}/readyz", timeout=30), 503)
        assert error["code"] == "storage_unavailable"
        where = f"attachment storage s3://{live.bucket}/{S3_PREFIX}"
        assert error["message"] in (  # botocore may still be retrying at the bound
            f"{where} is unavailable: EndpointConnectionError",
            f"{where} did not answer within 5 s",
        )


def test_readyz_bounds_a_storage_that_never_answers(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """An endpoint that takes the connection and says nothing: 503 at the 5 s bound."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nothing ever reads them
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        overrides = {"s3_endpoint_url": endpoint, "secret_key": SECRET}
        for live in live_app("s3", tmp_path, request, **overrides):
            started = time.monotonic()
            error = error_of(httpx.get(f"{live.base_url}/readyz", timeout=30), 503)
            assert (error["code"], error["message"]) == (
                "storage_unavailable",
                f"attachment storage s3://{live.bucket}/{S3_PREFIX} did not answer within 5 s",
            )
            assert 4.5 < time.monotonic() - started < 15


def test_readyz_refuses_a_folder_that_is_gone(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The attachments folder replaced by a file after the start: 503 naming it."""
    import shutil

    for live in live_app("file", tmp_path / "data", request, secret_key=SECRET):
        root = live.settings.resolved_attachments_dir
        assert httpx.get(f"{live.base_url}/readyz", timeout=30).json()["attachments"] == "file"
        shutil.rmtree(root)
        root.write_text("")
        error = error_of(httpx.get(f"{live.base_url}/readyz", timeout=30), 503)
        assert error["message"] == (
            f"attachment storage {root}: {root} is not a folder this process can write"
        )


async def test_doctor_names_a_missing_bucket(tmp_path: Path, s3: S3Server) -> None:
    from chatkit_backend.app import create_app
    from chatkit_backend.cli.doctor_checks import check_attachments
    from tests.routes.live_app import make_settings

    settings = make_settings(tmp_path, **s3.settings("no-such-bucket", S3_PREFIX))
    [finding] = await check_attachments(create_app(settings), 10)
    assert (finding.check, finding.status) == ("attachments", "problem")
    assert finding.message == (
        f"attachments cannot be stored: attachment storage s3://no-such-bucket/{S3_PREFIX}: "
        "bucket 'no-such-bucket' does not exist"
    )

    bucket = s3.bucket()
    settings = make_settings(tmp_path / "ok", **s3.settings(bucket, S3_PREFIX))
    [finding] = await check_attachments(create_app(settings), 10)
    assert (finding.status, finding.message) == (
        "ok",
        f"s3 storage s3://{bucket}/{S3_PREFIX} can take objects",
    )
    assert s3.keys(bucket) == []
