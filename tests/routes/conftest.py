from collections.abc import Iterator

import pytest

from tests.routes.live_app import make_settings, serve


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One default app (SQLite, offline model, no attachment store) on a real uvicorn per module."""
    settings = make_settings(
        tmp_path_factory.mktemp("data"), attachments=False, max_body_bytes=4096
    )
    with serve(settings) as (url, _app):
        yield url
