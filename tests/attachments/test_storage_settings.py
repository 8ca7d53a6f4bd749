"""``CHATKIT_ATTACHMENTS_URL`` picks the storage backend; bad values name the variable."""

import sys
from pathlib import Path
from typing import Any

import pytest

from chatkit_backend.attachments import storage_from_settings
from chatkit_backend.attachments.disk import DiskStorage
from chatkit_backend.attachments.s3 import S3Storage
from chatkit_backend.settings import Settings, SettingsError, load_settings


def test_the_default_is_the_attachments_folder_of_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_attachments_url == f"file://{tmp_path.resolve()}/attachments"
    storage = storage_from_settings(settings)
    assert isinstance(storage, DiskStorage) and storage.root == tmp_path / "attachments"
    assert (tmp_path / "attachments").is_dir()


def test_a_file_url_names_the_folder(tmp_path: Path) -> None:
    storage = storage_from_settings(Settings(attachments_url=f"file://{tmp_path}/files"))
    assert isinstance(storage, DiskStorage) and storage.root == tmp_path / "files"


def test_the_deprecated_attachments_dir_still_works(tmp_path: Path) -> None:
    settings = Settings(attachments_dir=tmp_path / "old")
    assert settings.resolved_attachments_url == f"file://{(tmp_path / 'old').resolve()}"
    storage = storage_from_settings(settings)
    assert isinstance(storage, DiskStorage) and storage.root == tmp_path / "old"


def test_an_s3_url_names_the_bucket_and_prefix() -> None:
    settings = Settings(
        attachments_url="s3://my-bucket/chat/files",
        s3_endpoint_url="https://minio.internal:9000",
        s3_region="eu-west-1",
    )
    storage = storage_from_settings(settings)
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("my-bucket", "chat/files")
    assert (storage.endpoint_url, storage.region) == ("https://minio.internal:9000", "eu-west-1")
    assert storage.object_key("k/atc_1") == "chat/files/k/atc_1"
    assert S3Storage("bucket").object_key("k/atc_1") == "k/atc_1"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://bucket/x", "must be file:///path or s3://bucket/prefix (got 'http://bucket/x')"),
        ("s3://", "s3:// needs a bucket: s3://bucket or s3://bucket/prefix (got 's3://')"),
        ("file://", "file:// needs a folder: file:///var/lib/chatkit/attachments (got 'file://')"),
    ],
)
def test_a_bad_url_names_the_variable(
    value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATKIT_ATTACHMENTS_URL", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert f"CHATKIT_ATTACHMENTS_URL: {message}" in str(raised.value)


def test_the_url_and_the_deprecated_folder_cannot_both_be_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHATKIT_ATTACHMENTS_URL", "s3://bucket")
    monkeypatch.setenv("CHATKIT_ATTACHMENTS_DIR", str(tmp_path))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "set CHATKIT_ATTACHMENTS_URL or the deprecated CHATKIT_ATTACHMENTS_DIR, not both" in str(
        raised.value
    )


def test_s3_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "chatkit_backend.attachments.s3", None)
    with pytest.raises(SettingsError) as raised:
        storage_from_settings(Settings(attachments_url="s3://bucket"))
    assert str(raised.value) == (
        "CHATKIT_ATTACHMENTS_URL: s3:// needs the s3 extra (aiobotocore): "
        "pip install 'chatkit-backend[s3]'"
    )


async def test_a_storage_written_before_check_existed_still_builds_and_passes() -> None:
    """``Storage.check`` and ``location`` have defaults: an outside subclass keeps working."""
    from chatkit_backend.attachments.storage import Storage

    class Older(Storage):
        kind = "older"

        async def writer(self, key: str, content_type: str) -> Any:
            raise NotImplementedError

        async def stat(self, key: str) -> Any:
            return None

        async def read(self, key: str) -> bytes | None:
            return None

        async def read_head(self, key: str, size: int) -> bytes:
            return b""

        async def delete(self, keys: Any) -> int:
            return 0

        async def download(self, key: str, *, mime_type: str, disposition: str, ttl: int) -> Any:
            return None

        async def prune_partial(self, older_than: Any) -> int:
            return 0

    assert (Older().location, await Older().check()) == ("older", "older")
