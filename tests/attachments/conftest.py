"""Live apps for the attachment tests: SQLite, offline model, users named by a header, small
limits; over both storage backends (a folder, and moto's S3 server) where a test takes ``live``."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from chatkit_backend.attachments.store import owner_key
from chatkit_backend.settings import Settings
from tests.attachments.helpers import SECRET, Client, new_user, user_context
from tests.routes.live_app import make_settings, serve
from tests.support.s3 import S3Server, moto_s3, use_test_credentials

MAX_UPLOAD_BYTES = 64 * 1024
S3_PREFIX = "attachments"
BACKENDS = ["file", "s3"]


@dataclass
class Live:
    base_url: str
    app: FastAPI
    settings: Settings
    backend: str = "file"
    s3: S3Server | None = None
    bucket: str = ""

    @property
    def root(self) -> Path:
        return self.settings.resolved_attachments_dir

    def client(self, prefix: str = "user") -> Client:
        return Client(self.base_url, new_user(prefix))

    def stored_files(self) -> list[Path]:
        """Every file under the attachments folder (uploads in progress included)."""
        return sorted(path for path in self.root.rglob("*") if path.is_file())

    def stored_ids(self) -> list[str]:
        """The attachment ids whose bytes are in the storage (folder or bucket)."""
        if self.s3 is None:
            return [path.name for path in self.stored_files() if path.parent.name != ".tmp"]
        return [key.rsplit("/", 1)[-1] for key in self.s3.keys(self.bucket)]

    def stored(self, client: Client, attachment: dict[str, Any]) -> bool:
        """Whether the attachment's bytes are in the storage, where the store keeps them."""
        key = f"{owner_key(client.user)}/{attachment['id']}"
        if self.s3 is None:
            return (self.root / key).is_file()
        return f"{S3_PREFIX}/{key}" in self.s3.keys(self.bucket)

    def partial_uploads(self) -> list[str]:
        """Uploads in progress: temporary files, or open multipart uploads."""
        if self.s3 is None:
            return [path.name for path in (self.root / ".tmp").glob("*")]
        return self.s3.multipart_uploads(self.bucket)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test credentials for in-process apps on S3 (the standard chain reads them)."""
    use_test_credentials(monkeypatch)


def backend_settings(
    backend: str, data_dir: Path, request: pytest.FixtureRequest, **overrides: Any
) -> tuple[Settings, S3Server | None, str]:
    """Settings for a test app on ``backend``; the S3 server and a fresh bucket for ``s3``."""
    if backend == "file":
        return make_settings(data_dir, **overrides), None, ""
    server: S3Server = request.getfixturevalue("s3")
    bucket = server.bucket()
    settings = make_settings(data_dir, **{**server.settings(bucket, S3_PREFIX), **overrides})
    return settings, server, bucket


def live_app(
    backend: str, data_dir: Path, request: pytest.FixtureRequest, **overrides: Any
) -> Iterator[Live]:
    settings, server, bucket = backend_settings(backend, data_dir, request, **overrides)
    with serve(settings, context=user_context) as (base_url, app):
        yield Live(base_url, app, settings, backend, server, bucket)


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """One app per module and backend (``file``, ``s3``)."""
    yield from live_app(
        request.param,
        tmp_path_factory.mktemp("data"),
        request,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        secret_key=SECRET,
    )


@pytest.fixture(scope="module")
def local_live(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Live]:
    """One app per module on disk storage (tests of uploads through this server)."""
    yield from live_app(
        "file",
        tmp_path_factory.mktemp("data"),
        request,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        secret_key=SECRET,
    )


@pytest.fixture(scope="module")
def s3_live(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Live]:
    """One app per module on S3 storage (moto)."""
    yield from live_app(
        "s3",
        tmp_path_factory.mktemp("data"),
        request,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        secret_key=SECRET,
    )


@pytest.fixture
def alice(live: Live) -> Client:
    return live.client("alice")


@pytest.fixture
def bob(live: Live) -> Client:
    return live.client("bob")
