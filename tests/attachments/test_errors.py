"""Every attachment error on a real server, with its exact status, code and message.

On disk storage: uploads here go through this server (with S3 they go to the bucket;
``test_s3_storage.py`` has the refusals of objects uploaded there).
"""

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from chatkit_backend.attachments.tokens import TokenSigner
from tests.attachments.conftest import MAX_UPLOAD_BYTES, Live
from tests.attachments.helpers import JPEG_HEAD, SECRET, USER_HEADER, Client, error_of, png_bytes
from tests.routes.live_app import captured_log

TOO_LARGE = f"file is larger than the limit of {MAX_UPLOAD_BYTES} bytes (CHATKIT_MAX_UPLOAD_BYTES)"
ALLOWED = "image/png, image/jpeg, image/gif, image/webp, text/*, application/pdf, application/json"


@pytest.fixture(scope="module")
def live(local_live: Live) -> Live:
    return local_live


def upload_url(live: Live, attachment_id: str, token: str | None) -> str:
    query = "" if token is None else f"?token={token}"
    return f"{live.base_url}/attachments/{attachment_id}/upload{query}"


def chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    """A body of ``total`` bytes sent with chunked encoding (no Content-Length to refuse early)."""
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b"x" * part


def assert_not_uploaded(live: Live, client: Client, attachment: dict[str, Any]) -> None:
    """Nothing was stored: no file (nor partial file), and the attachment still has no content."""
    assert not [path for path in live.stored_files() if path.name == attachment["id"]]
    assert not list((live.root / ".tmp").glob("*"))
    error = error_of(client.content(attachment["id"]), 404)
    assert (
        error["message"] == f"attachment {attachment['id']!r} has no content yet: upload it first"
    )


# -- attachments.create ----------------------------------------------------------------------
def test_create_refuses_a_declared_size_over_the_limit(alice: Client) -> None:
    error = error_of(alice.create("big.txt", MAX_UPLOAD_BYTES + 1, "text/plain"), 413)
    assert error == {**error, "code": "payload_too_large", "message": TOO_LARGE}


def test_create_accepts_exactly_the_limit(alice: Client) -> None:
    assert alice.create("edge.txt", MAX_UPLOAD_BYTES, "text/plain").status_code == 200


def test_create_refuses_a_type_that_is_not_allowed(alice: Client) -> None:
    error = error_of(alice.create("tool.exe", 10, "application/x-msdownload"), 415)
    assert error["code"] == "unsupported_media_type"
    assert error["message"] == (
        f"attachment type 'application/x-msdownload' is not allowed; allowed: {ALLOWED} "
        "(CHATKIT_ALLOWED_MIME_TYPES)"
    )


def test_create_refuses_a_malformed_type(alice: Client) -> None:
    error = error_of(alice.create("x", 10, "nonsense"), 415)
    assert error["message"] == "attachment has no valid MIME type (got 'nonsense')"


def test_create_refuses_a_negative_size(alice: Client) -> None:
    error = error_of(alice.create("x.txt", -1, "text/plain"), 422)
    assert error == {
        **error,
        "code": "invalid_request",
        "message": "params.size: must be 0 or more (got -1)",
    }


# -- upload URL and token ----------------------------------------------------------------------
def test_upload_without_a_token_is_refused(live: Live, alice: Client) -> None:
    attachment = alice.created("a.txt", b"abc", "text/plain")
    error = error_of(
        alice.request("PUT", upload_url(live, attachment["id"], None), content=b"abc"), 403
    )
    assert error["code"] == "invalid_upload_token"
    assert error["message"] == "upload URL has no token: use the URL from attachments.create"


def test_upload_with_a_forged_token_is_refused(live: Live, alice: Client) -> None:
    attachment = alice.created("a.txt", b"abc", "text/plain")
    forged = TokenSigner(b"not the server's key").sign(
        "upload", attachment["id"], alice.user, ttl=60
    )
    error = error_of(
        alice.request("PUT", upload_url(live, attachment["id"], forged), content=b"abc"), 403
    )
    assert error["message"] == "upload token is invalid"
    garbage = error_of(
        alice.request("PUT", upload_url(live, attachment["id"], "garbage"), content=b"abc"), 403
    )
    assert garbage["message"] == "upload token is invalid"


def test_upload_with_an_expired_token_is_refused(live: Live, alice: Client) -> None:
    attachment = alice.created("a.txt", b"abc", "text/plain")
    expired = TokenSigner(SECRET.encode()).sign("upload", attachment["id"], alice.user, ttl=-1)
    error = error_of(
        alice.request("PUT", upload_url(live, attachment["id"], expired), content=b"abc"), 403
    )
    assert error["message"] == (
        "upload token expired (upload URLs are valid for 900 seconds, CHATKIT_UPLOAD_TOKEN_TTL): "
        "create the attachment again"
    )
    assert_not_uploaded(live, alice, attachment)


def test_a_token_for_another_attachment_is_refused(live: Live, alice: Client) -> None:
    first = alice.created("a.txt", b"abc", "text/plain")
    second = alice.created("b.txt", b"abc", "text/plain")
    token = urlsplit(first["upload_descriptor"]["url"]).query.removeprefix("token=")
    error = error_of(
        alice.request("PUT", upload_url(live, second["id"], token), content=b"abc"), 403
    )
    assert error["message"] == "upload token is for another attachment"


def test_a_preview_signature_is_not_an_upload_token(live: Live, alice: Client) -> None:
    attachment = alice.created("a.png", png_bytes(), "image/png")
    signature = urlsplit(attachment["preview_url"]).query.removeprefix("sig=")
    error = error_of(
        alice.request("PUT", upload_url(live, attachment["id"], signature), content=png_bytes()),
        403,
    )
    assert error["message"] == "upload token is invalid"


def test_an_upload_url_works_once(alice: Client) -> None:
    attachment = alice.created("a.txt", b"first", "text/plain")
    assert alice.upload(attachment, b"first").status_code == 200
    error = error_of(alice.upload(attachment, b"second"), 409)
    assert error["code"] == "conflict"
    assert (
        error["message"]
        == f"attachment {attachment['id']!r} was already uploaded: upload URLs work once"
    )
    assert alice.content(attachment["id"]).content == b"first"


def test_concurrent_uploads_with_one_url_store_exactly_one(live: Live, alice: Client) -> None:
    data = [bytes([65 + n]) * 60_000 for n in range(4)]
    attachment = alice.created("race.txt", data[0], "text/plain")
    barrier = threading.Barrier(len(data))
    statuses: list[int] = []

    def send(body: bytes) -> None:
        barrier.wait()
        statuses.append(alice.upload(attachment, body).status_code)

    threads = [threading.Thread(target=send, args=(body,)) for body in data]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409, 409, 409]
    assert alice.content(attachment["id"]).content in data
    assert not list((live.root / ".tmp").glob("*"))


# -- size ---------------------------------------------------------------------------------------
def test_upload_with_a_content_length_over_the_limit_is_refused_before_reading(
    live: Live, alice: Client
) -> None:
    attachment = alice.created("a.txt", b"small", "text/plain")
    error = error_of(alice.upload(attachment, b"x" * (MAX_UPLOAD_BYTES + 1)), 413)
    assert error["message"] == TOO_LARGE
    assert_not_uploaded(live, alice, attachment)


@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
def test_a_streamed_upload_over_the_limit_is_refused_and_nothing_is_stored(
    live: Live, alice: Client, multipart: bool
) -> None:
    attachment = alice.created("a.txt", b"small", "text/plain")
    url = attachment["upload_descriptor"]["url"]
    total = MAX_UPLOAD_BYTES * 3
    if multipart:
        boundary = "testboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()

        def body() -> Iterator[bytes]:
            yield head
            yield from chunks(total)
            yield f"\r\n--{boundary}--\r\n".encode()

        response = alice.request(
            "PUT",
            url,
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    else:
        response = alice.request(
            "PUT", url, content=chunks(total), headers={"Content-Type": "text/plain"}
        )
    assert "content-length" not in response.request.headers
    assert error_of(response, 413)["message"] == TOO_LARGE
    assert_not_uploaded(live, alice, attachment)
    assert alice.upload(attachment, b"small").status_code == 200  # the URL was not used up


def test_the_limit_is_enforced_while_the_body_streams(live: Live, alice: Client) -> None:
    """The server answers 413 before the client has finished sending the body."""
    attachment = alice.created("a.txt", b"small", "text/plain")
    url = urlsplit(attachment["upload_descriptor"]["url"])
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n{USER_HEADER}: {alice.user}\r\n"
            "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b"x" * 4096
        for _ in range(MAX_UPLOAD_BYTES // len(piece) + 2):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        # The body never ends: an answer now can only come from counting as bytes arrive.
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert TOO_LARGE.encode() in answer
    assert_not_uploaded(live, alice, attachment)


# -- type ---------------------------------------------------------------------------------------
def test_an_image_whose_bytes_are_not_an_image_is_refused(live: Live, alice: Client) -> None:
    attachment = alice.created("fake.png", b"<script>alert(1)</script>", "image/png")
    error = error_of(alice.upload(attachment, b"<script>alert(1)</script>"), 415)
    assert error["message"] == "file is declared as image/png but its bytes are not an image"
    assert_not_uploaded(live, alice, attachment)


def test_an_image_whose_bytes_are_another_image_type_is_refused(live: Live, alice: Client) -> None:
    attachment = alice.created("photo.png", JPEG_HEAD, "image/png")
    error = error_of(alice.upload(attachment, JPEG_HEAD, multipart=True), 415)
    assert error["message"] == "file is declared as image/png but its bytes are image/jpeg"
    assert_not_uploaded(live, alice, attachment)


# -- multipart ----------------------------------------------------------------------------------
def test_multipart_without_a_file_field_is_refused(alice: Client) -> None:
    attachment = alice.created("a.txt", b"abc", "text/plain")
    response = alice.request(
        "PUT", attachment["upload_descriptor"]["url"], files={"other": ("a.txt", b"abc")}
    )
    assert error_of(response, 422)["message"] == "multipart body has no 'file' field"


def test_multipart_with_two_file_fields_is_refused(alice: Client) -> None:
    attachment = alice.created("a.txt", b"abc", "text/plain")
    response = alice.request(
        "PUT",
        attachment["upload_descriptor"]["url"],
        files=[
            ("file", ("a.txt", b"abc", "text/plain")),
            ("file", ("b.txt", b"def", "text/plain")),
        ],
    )
    assert error_of(response, 422)["message"] == "multipart body has more than one 'file' field"


def test_multipart_without_a_boundary_is_refused(alice: Client) -> None:
    attachment = alice.created("a.txt", b"abc", "text/plain")
    response = alice.request(
        "PUT",
        attachment["upload_descriptor"]["url"],
        content=b"abc",
        headers={"Content-Type": "multipart/form-data"},
    )
    assert (
        error_of(response, 400)["message"]
        == "multipart body has no boundary in its Content-Type header"
    )


def test_a_truncated_multipart_body_is_refused(live: Live, alice: Client) -> None:
    attachment = alice.created("a.txt", b"abc", "text/plain")
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc'
    response = alice.request(
        "PUT",
        attachment["upload_descriptor"]["url"],
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert error_of(response, 400)["message"] == "multipart body ended before its closing boundary"
    assert_not_uploaded(live, alice, attachment)


# -- direct upload ------------------------------------------------------------------------------
def test_direct_upload_refuses_a_type_that_is_not_allowed(live: Live, alice: Client) -> None:
    before = live.stored_files()
    error = error_of(alice.direct("tool.exe", b"MZ\x90\x00", "application/x-msdownload"), 415)
    assert error["message"].startswith(
        "attachment type 'application/x-msdownload' is not allowed; allowed: "
    )
    assert live.stored_files() == before


def test_direct_upload_refuses_an_unknown_binary(alice: Client) -> None:
    error = error_of(alice.direct("blob", b"\x00\x01\x02", None), 415)
    assert error["message"].startswith("attachment type 'application/octet-stream' is not allowed")


def test_direct_upload_refuses_a_fake_image(alice: Client) -> None:
    error = error_of(alice.direct("fake.gif", b"not a gif at all", "image/gif"), 415)
    assert error["message"] == "file is declared as image/gif but its bytes are not an image"


def test_direct_upload_refuses_a_body_over_the_limit(live: Live, alice: Client) -> None:
    before = live.stored_files()
    error = error_of(alice.direct("big.txt", b"x" * (MAX_UPLOAD_BYTES + 1), "text/plain"), 413)
    assert error["message"] == TOO_LARGE
    assert live.stored_files() == before


def test_direct_upload_accepts_exactly_the_limit(alice: Client) -> None:
    response = alice.direct("edge.txt", b"x" * MAX_UPLOAD_BYTES, "text/plain")
    assert response.status_code == 200, response.text
    assert len(alice.content(response.json()["id"]).content) == MAX_UPLOAD_BYTES


def test_direct_upload_needs_a_multipart_body(alice: Client) -> None:
    response = alice.request(
        "POST", "/attachments", content=b"abc", headers={"Content-Type": "text/plain"}
    )
    assert error_of(response, 415)["message"] == (
        "direct uploads must be multipart/form-data with a 'file' field (got text/plain)"
    )


def test_direct_upload_needs_a_file_field(alice: Client) -> None:
    response = alice.request(
        "POST", "/attachments", files={"upload": ("a.txt", b"abc", "text/plain")}
    )
    assert error_of(response, 422)["message"] == "multipart body has no 'file' field"


# -- content and preview ------------------------------------------------------------------------
def test_content_of_an_attachment_not_uploaded_yet_is_not_found(live: Live, alice: Client) -> None:
    attachment = alice.created("a.txt", b"abc", "text/plain")
    assert_not_uploaded(live, alice, attachment)


def test_content_of_an_unknown_attachment_is_not_found(alice: Client) -> None:
    error = error_of(alice.content("atc_0123456789abcdef0123456789abcdef"), 404)
    assert error == {
        **error,
        "code": "not_found",
        "message": "attachment 'atc_0123456789abcdef0123456789abcdef' not found",
    }


@pytest.mark.parametrize(
    ("path_id", "seen_as"),
    [("%2e%2e", ".."), (".secret_key", ".secret_key"), ("a%00b", "a\x00b"), ("a;b", "a;b")],
)
def test_an_id_that_is_not_path_safe_is_not_found(
    alice: Client, path_id: str, seen_as: str
) -> None:
    """Ids are checked against a strict pattern before any path is built from them."""
    for response in [alice.content(path_id), alice.request("DELETE", f"/attachments/{path_id}")]:
        assert error_of(response, 404)["message"] == f"attachment {seen_as!r} not found"


def test_a_preview_without_a_valid_signature_is_not_found(live: Live, alice: Client) -> None:
    image = alice.uploaded("a.png", png_bytes(), "image/png")
    other = alice.uploaded("b.png", png_bytes(), "image/png")
    other_sig = urlsplit(other["preview_url"]).query
    base = f"{live.base_url}/attachments/{image['id']}/preview"
    for url in [base, f"{base}?sig=garbage", f"{base}?{other_sig}"]:
        error = error_of(httpx.get(url, timeout=10), 404)
        assert error["message"] == f"attachment {image['id']!r} not found"


def test_a_client_that_disconnects_mid_upload_leaves_nothing_behind(
    live: Live, alice: Client
) -> None:
    attachment = alice.created("a.txt", b"x" * 50_000, "text/plain")
    url = urlsplit(attachment["upload_descriptor"]["url"])
    with captured_log() as log:
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            sock.sendall(
                f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n{USER_HEADER}: {alice.user}\r\n"
                "Content-Type: text/plain\r\nContent-Length: 50000\r\n\r\n".encode()
                + b"x" * 5000
            )
            time.sleep(0.3)
        deadline = time.monotonic() + 5
        access_line = '" 400 PUT /attachments/{attachment_id}/upload'
        while access_line not in log.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert access_line in log.getvalue()
    assert "Traceback" not in log.getvalue() and "unhandled error" not in log.getvalue()
    assert_not_uploaded(live, alice, attachment)
    assert alice.upload(attachment, b"x" * 50_000).status_code == 200
