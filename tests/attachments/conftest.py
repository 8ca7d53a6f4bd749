"""A live app per test module: SQLite, offline model, users named by a header, small limits."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from chatkit_backend.settings import Settings
from tests.attachments.helpers import SECRET, Client, new_user, user_context
from tests.routes.live_app import make_settings, serve

MAX_UPLOAD_BYTES = 64 * 1024


@dataclass
class Live:
    base_url: str
    app: FastAPI
    settings: Settings

    @property
    def root(self) -> Path:
        return self.settings.resolved_attachments_dir

    def client(self, prefix: str = "user") -> Client:
        return Client(self.base_url, new_user(prefix))

    def stored_files(self) -> list[Path]:
        """Every file under the attachments folder (uploads in progress included)."""
        return sorted(path for path in self.root.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = make_settings(
        tmp_path_factory.mktemp("data"), max_upload_bytes=MAX_UPLOAD_BYTES, secret_key=SECRET
    )
    with serve(settings, context=user_context) as (base_url, app):
        yield Live(base_url, app, settings)


@pytest.fixture
def alice(live: Live) -> Client:
    return live.client("alice")


@pytest.fixture
def bob(live: Live) -> Client:
    return live.client("bob")
