"""``S3Storage``: attachment bytes in an S3-compatible bucket (``CHATKIT_ATTACHMENTS_URL=s3://bucket/prefix``).

Works with AWS S3, MinIO, Cloudflare R2 and Google Cloud Storage's S3 interface, through
aiobotocore (botocore signs every request and URL; nothing here signs by hand).
Credentials come from the standard AWS chain: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
(and ``AWS_SESSION_TOKEN``), ``AWS_PROFILE`` and the shared files, web identity, container
and instance roles. ``CHATKIT_S3_ENDPOINT_URL`` points at a non-AWS service (path-style
URLs); ``CHATKIT_S3_REGION`` names the bucket's region.

Objects are ``<prefix>/<owner key>/<attachment id>``. Uploads that pass through this
server (direct uploads) stream to the bucket: a small file is one ``PutObject``, a larger
one a multipart upload of ``part_size`` parts, so at most one part is held in memory.
Two-phase uploads never pass through it: the client ``PUT``s to a presigned URL.
Downloads are presigned ``GET`` URLs (see ``docs/attachments.md``).
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from chatkit_backend.attachments.errors import StorageUnavailableError
from chatkit_backend.attachments.storage import (
    Download,
    ObjectInfo,
    ObjectWriter,
    RemoteURL,
    Storage,
    UploadTarget,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

logger = logging.getLogger("chatkit_backend.attachments")

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (all but the last)
MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


class S3Writer(ObjectWriter):
    """Buffers up to one part; the first full part starts a multipart upload."""

    def __init__(self, storage: "S3Storage", key: str, content_type: str, part_size: int) -> None:
        self.storage = storage
        self.key = key
        self.content_type = content_type
        self.part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._done = False

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self.part_size:
            await self._send_part(self.part_size)

    async def _send_part(self, size: int) -> None:
        storage = self.storage
        async with storage.call() as s3:
            if self._upload_id is None:
                started = await s3.create_multipart_upload(
                    Bucket=storage.bucket, Key=self.key, ContentType=self.content_type
                )
                self._upload_id = started["UploadId"]
            part = bytes(self._buffer[:size])
            del self._buffer[:size]
            number = len(self._parts) + 1
            sent = await s3.upload_part(
                Bucket=storage.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,
            )
            self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def commit(self) -> bool:
        storage = self.storage
        if self._upload_id is None:
            async with storage.call() as s3:
                await s3.put_object(
                    Bucket=storage.bucket,
                    Key=self.key,
                    Body=bytes(self._buffer),
                    ContentType=self.content_type,
                )
        else:
            if self._buffer:
                await self._send_part(len(self._buffer))
            async with storage.call() as s3:
                await s3.complete_multipart_upload(
                    Bucket=storage.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        self._buffer = bytearray()
        self._done = True
        return True

    async def abort(self) -> None:
        self._buffer = bytearray()
        if self._done or self._upload_id is None:
            return
        self._done = True
        try:
            async with self.storage.call() as s3:
                await s3.abort_multipart_upload(
                    Bucket=self.storage.bucket, Key=self.key, UploadId=self._upload_id
                )
        except StorageUnavailableError:  # the bucket's lifecycle rule or a prune finishes it
            logger.warning("could not abort multipart upload of %s", self.key, exc_info=True)


BUCKET_REFUSALS = frozenset({"404", "NoSuchBucket", "403", "AccessDenied"})
"""``HeadBucket``'s codes for a missing bucket and a refused one (``S3Storage.check``)."""


class S3Storage(Storage):
    """Objects in ``bucket`` under ``prefix``; one aiobotocore client, opened on first use."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        part_size: int = MIN_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self.part_size = part_size
        self._client: S3Client | None = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None

    def object_key(self, key: str) -> str:
        """The bucket key for a storage key: the prefix, then the key."""
        return f"{self.prefix}/{key}" if self.prefix else key

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    # -- the client --------------------------------------------------------------------------
    async def client(self) -> "S3Client":
        """The shared client (created on first use, in the running event loop)."""
        if self._client is not None:
            return self._client
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                from aiobotocore.session import get_session

                # Custom endpoints (MinIO, R2, GCS, moto) take path-style URLs; on AWS,
                # virtual-hosted URLs on the regional endpoint keep presigned URLs valid
                # without a redirect.
                style = "path" if self.endpoint_url else "virtual"
                config = AioConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": style},
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=READ_TIMEOUT,
                )
                exit_stack = contextlib.AsyncExitStack()
                self._client = await exit_stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        config=config,
                    )
                )
                self._exit = exit_stack
        assert self._client is not None
        return self._client

    @contextlib.asynccontextmanager
    async def call(self, expected: frozenset[str] = MISSING_CODES) -> AsyncIterator["S3Client"]:
        """The client, with connection and permission failures turned into a 503
        (``ClientError``s whose code is in ``expected`` pass through)."""
        client = await self.client()
        try:
            yield client
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in expected:
                raise
            logger.error(
                "S3 request to %s failed: %s %s", self.location, code, error.get("Message")
            )
            raise StorageUnavailableError(
                f"attachment storage {self.location} refused the request ({code or 'error'})"
            ) from None
        except BotoCoreError as exc:
            logger.error("S3 request to %s failed: %s", self.location, exc)
            raise StorageUnavailableError(
                f"attachment storage {self.location} is unavailable: {type(exc).__name__}"
            ) from None

    async def aclose(self) -> None:
        if self._exit is not None:
            exit_stack, self._exit, self._client = self._exit, None, None
            await exit_stack.aclose()

    async def check(self) -> str:
        """``HEAD`` the bucket (see ``Storage.check``)."""
        try:
            async with self.call(BUCKET_REFUSALS) as s3:
                await s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket"):
                problem = f"bucket {self.bucket!r} does not exist"
            else:
                problem = f"bucket {self.bucket!r} refuses access ({code})"
            raise StorageUnavailableError(
                f"attachment storage {self.location}: {problem}"
            ) from None
        return self.location

    # -- objects ---------------------------------------------------------------------------
    async def writer(self, key: str, content_type: str) -> ObjectWriter:
        return S3Writer(self, self.object_key(key), content_type, self.part_size)

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            async with self.call() as s3:
                head = await s3.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError:  # only "missing" errors get here
            return None
        return ObjectInfo(
            size=int(head["ContentLength"]),
            content_type=str(head.get("ContentType") or ""),
            etag=str(head.get("ETag") or ""),
        )

    async def read(self, key: str) -> bytes | None:
        try:
            async with self.call() as s3:
                answer = await s3.get_object(Bucket=self.bucket, Key=self.object_key(key))
                async with answer["Body"] as body:
                    return await body.read()
        except ClientError:
            return None

    async def read_head(self, key: str, size: int) -> bytes:
        if size <= 0:
            return b""
        try:
            async with self.call(MISSING_CODES | {"InvalidRange"}) as s3:
                answer = await s3.get_object(
                    Bucket=self.bucket, Key=self.object_key(key), Range=f"bytes=0-{size - 1}"
                )
                async with answer["Body"] as body:
                    return (await body.read())[:size]
        except ClientError:  # missing, or empty (an empty object has no byte 0)
            return b""

    async def delete(self, keys: Sequence[str]) -> int:
        removed = 0
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": self.object_key(key)} for key in keys[start : start + DELETE_BATCH]]
            async with self.call() as s3:
                answer = await s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": batch, "Quiet": False},  # type: ignore[typeddict-item]
                )
            for error in answer.get("Errors", []):
                logger.error(
                    "could not delete s3://%s/%s: %s", self.bucket, error.get("Key"), error
                )
            removed += len(answer.get("Deleted", []))
        return removed

    async def download(
        self, key: str, *, mime_type: str, disposition: str, ttl: int
    ) -> Download | None:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.object_key(key),
            "ResponseContentType": mime_type,
            "ResponseContentDisposition": disposition,
            "ResponseCacheControl": "private, no-store",
        }
        async with self.call() as s3:
            url = await s3.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
        return RemoteURL(url)

    async def upload_target(self, key: str, mime_type: str, ttl: int) -> UploadTarget | None:
        """A presigned ``PUT``; the client must send the ``Content-Type`` it was signed with."""
        params = {"Bucket": self.bucket, "Key": self.object_key(key), "ContentType": mime_type}
        async with self.call() as s3:
            url = await s3.generate_presigned_url("put_object", Params=params, ExpiresIn=ttl)
        return UploadTarget(url=url, method="PUT", headers={"Content-Type": mime_type})

    async def prune_partial(self, older_than: datetime) -> int:
        """Abort multipart uploads under the prefix started before ``older_than``."""
        aborted = 0
        prefix = f"{self.prefix}/" if self.prefix else ""
        async with self.call() as s3:
            paginator = s3.get_paginator("list_multipart_uploads")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    initiated = upload.get("Initiated")
                    if initiated is None or initiated >= older_than:
                        continue
                    with contextlib.suppress(ClientError):
                        await s3.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        return aborted
