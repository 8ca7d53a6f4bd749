"""An S3-compatible server for tests: moto's standalone server on 127.0.0.1, a port from the OS.

    with moto_s3() as s3:
        bucket = s3.bucket()                      # a fresh bucket with the CORS rule of the docs
        env = s3.env                              # what a `serve` process needs (credentials, endpoint)
        s3.client.head_object(Bucket=bucket, Key=...)

Without moto the tests that need it skip, or fail under ``CI=true``. Credentials are fixed
test values given explicitly (``env`` for subprocesses, ``use_test_credentials`` in this
process): nothing comes from the developer's shell or ``~/.aws``.
"""

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

REGION = "us-east-1"
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"  # moto accepts any credentials
# The CORS rule docs/attachments.md gives for browsers' presigned PUTs (any origin here).
CORS_RULE: dict[str, Any] = {
    "AllowedOrigins": ["*"],
    "AllowedMethods": ["PUT", "GET", "HEAD"],
    "AllowedHeaders": ["Content-Type"],
    "ExposeHeaders": ["ETag"],
    "MaxAgeSeconds": 3600,
}


def credentials() -> dict[str, str]:
    """The AWS variables every S3 test process uses; no profile, no instance metadata."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_REGION")


@dataclass
class S3Server:
    """A running moto server and a boto3 client on it."""

    endpoint: str
    client: Any = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """Environment for a ``serve`` process using this server (add the bucket URL)."""
        return {
            **credentials(),
            "CHATKIT_S3_ENDPOINT_URL": self.endpoint,
            "CHATKIT_S3_REGION": REGION,
        }

    def settings(self, bucket: str, prefix: str = "attachments") -> dict[str, Any]:
        """``Settings`` overrides for an app storing attachments in ``bucket``."""
        return {
            "attachments_url": f"s3://{bucket}/{prefix}",
            "s3_endpoint_url": self.endpoint,
            "s3_region": REGION,
        }

    def bucket(self) -> str:
        """A new, empty bucket with the documented CORS rule."""
        name = f"chatkit-test-{secrets.token_hex(6)}"
        self.client.create_bucket(Bucket=name)
        self.client.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [CORS_RULE]})
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every object key in the bucket."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def multipart_uploads(self, bucket: str) -> list[str]:
        """Keys of multipart uploads still open."""
        return [
            u["Key"] for u in self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        ]


def moto_or_skip() -> Any:
    """moto's threaded server class; skip without moto (fail under CI, which must have it)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        message = f"moto[server] is not installed ({exc}): pip install -e '.[test]'"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message} (CI must run the S3 tests)")
        pytest.skip(message)
    return ThreadedMotoServer


@contextlib.contextmanager
def moto_s3() -> Iterator[S3Server]:
    """moto's standalone S3 server on 127.0.0.1 (port chosen by the OS), for the ``with`` block.

    In-process apps read credentials from this process's environment (the standard AWS
    chain): give each test ``credentials()`` (``use_test_credentials``).
    """
    server_class = moto_or_skip()
    import boto3  # type: ignore[import-untyped]  # installed with moto

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = server_class(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    try:
        yield S3Server(endpoint, client)
    finally:
        client.close()
        server.stop()


def use_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the test credentials in this process for one test (its fixtures undo it after)."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in credentials().items():
        monkeypatch.setenv(name, value)
