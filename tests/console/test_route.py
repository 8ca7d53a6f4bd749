"""``GET /console`` and its static files: served from the package, on only when asked,
with nothing from another origin."""

import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit_backend.app import create_app
from chatkit_backend.cli.serve import start_line
from chatkit_backend.routes.console import CONTENT_SECURITY_POLICY, console_files
from chatkit_backend.settings import Settings


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path, **overrides)


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(settings(tmp_path, console=True, path="/api/chatkit")):
        yield client


async def test_page_carries_the_endpoint_and_security_headers(console: httpx.AsyncClient) -> None:
    response = await console.get("/console")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'self'; img-src 'self' blob: data:")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<meta name="chatkit-path" content="/api/chatkit">' in response.text
    assert '<meta name="chatkit-auth" content="none">' in response.text
    assert '<meta name="chatkit-attachments" content="on">' in response.text
    assert "<!-- chatkit-meta -->" not in response.text


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("console.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
async def test_static_files_are_served_with_their_type(
    console: httpx.AsyncClient, name: str, media_type: str
) -> None:
    response = await console.get(f"/console/static/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (console_files() / name).read_bytes()


@pytest.mark.parametrize("name", ["secret.py", "index.html", "__init__.py"])
async def test_unknown_console_file_is_not_found(console: httpx.AsyncClient, name: str) -> None:
    response = await console.get(f"/console/static/{name}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["message"] == f"no console file named {name!r}"


async def test_a_path_outside_the_console_folder_is_not_found(console: httpx.AsyncClient) -> None:
    response = await console.get("/console/static/..%2Fsettings.py")

    assert response.status_code == 404
    assert "settings" not in response.text.split('"message"')[0]  # nothing of the file leaks
    assert response.json()["error"]["code"] == "not_found"


async def test_everything_the_page_loads_is_served_from_this_origin(
    console: httpx.AsyncClient,
) -> None:
    page = (await console.get("/console")).text
    references = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sorted(references) == [
        "console/static/console.css",
        "console/static/console.js",
        "console/static/favicon.svg",
    ]
    modules = {"console.js"}
    pending = ["console.js"]
    while pending:
        source = (await console.get(f"/console/static/{pending.pop()}")).text
        for imported in re.findall(r'from "([^"]+)"|import\("([^"]+)"\)', source):
            target = next(part for part in imported if part)
            assert target.startswith("./"), f"module import {target!r} is not a file of the console"
            name = target.removeprefix("./")
            if name not in modules:
                modules.add(name)
                pending.append(name)
    assert modules == {
        "console.js",
        "api.js",
        "dom.js",
        "inspector.js",
        "items.js",
        "markdown.js",
        "sse.js",
        "vendor/marked.esm.js",
        "vendor/purify.es.js",
    }
    for name in modules:
        assert (await console.get(f"/console/static/{name}")).status_code == 200
    for path in console_files().iterdir():
        if path.is_dir():
            continue
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|//cdn", text), f"{path.name} names another origin"
    for path in (console_files() / "vendor").iterdir():
        # Vendored code names URLs (XML namespaces, links in comments) but loads none.
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(?:import|from|fetch\(|src=)\s*["'`]https?://""", text), path.name
        assert "//cdn" not in text, path.name


async def test_vendored_libraries_ship_with_their_licences() -> None:
    vendor = console_files() / "vendor"
    names = {path.name for path in vendor.iterdir()}
    assert {"marked.esm.js", "marked.LICENSE.md", "purify.es.js", "dompurify.LICENSE"} <= names
    assert "MIT License" in (vendor / "marked.esm.js").read_text(encoding="utf-8")[:300]
    assert "Apache license 2.0" in (vendor / "purify.es.js").read_text(encoding="utf-8")[:300]


async def test_page_carries_the_model_picker_and_the_tool_menu(tmp_path: Path) -> None:
    models = [
        {"id": "fast", "model": "offline", "label": "Fast"},
        {"id": "deep", "model": "offline", "default": True, "description": "Thinks longer"},
    ]
    tools = [
        {
            "type": "mcp",
            "name": "docs",
            "url": "http://127.0.0.1:9/mcp",
            "id": "docs",
            "headers": {"Authorization": "Bearer not-for-the-page"},
        },
        {"type": "mcp", "name": "fs", "command": ["fs-server"]},
    ]
    configured = settings(
        tmp_path, console=True, models=json.dumps(models), tools=json.dumps(tools)
    )
    async for client in client_for(configured):
        page = (await client.get("/console")).text

    assert html.unescape(meta_content(page, "chatkit-models")) == json.dumps(
        [
            {"id": "fast", "label": "Fast"},
            {"id": "deep", "label": "deep", "description": "Thinks longer", "default": True},
        ]
    )
    assert html.unescape(meta_content(page, "chatkit-tools")) == json.dumps(
        [{"id": "docs", "label": "docs", "type": "mcp"}]
    )
    assert "not-for-the-page" not in page and "127.0.0.1:9" not in page


def meta_content(page: str, name: str) -> str:
    match = re.search(rf'<meta name="{name}" content="([^"]*)">', page)
    assert match, f"no {name} meta tag"
    return match[1]


async def test_console_is_off_by_default(tmp_path: Path) -> None:
    async for client in client_for(settings(tmp_path)):
        response = await client.get("/console")
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "no route for GET /console"
        assert (await client.get("/console/static/console.js")).status_code == 404


@pytest.mark.parametrize(
    ("options", "served"),
    [
        ({"debug": True}, True),
        ({"debug": True, "console": False}, False),
        ({"console": True}, True),
    ],
)
async def test_console_follows_debug_unless_set(
    tmp_path: Path, options: dict[str, bool], served: bool
) -> None:
    async for client in client_for(settings(tmp_path, **options)):
        assert (await client.get("/console")).status_code == (200 if served else 404)


async def test_page_says_when_attachments_are_off(tmp_path: Path) -> None:
    async for client in client_for(
        settings(tmp_path, console=True, attachments=False, auth="none")
    ):
        assert (
            '<meta name="chatkit-attachments" content="off">' in (await client.get("/console")).text
        )


def test_start_line_names_the_console_url_only_when_it_is_on(tmp_path: Path) -> None:
    on = start_line(settings(tmp_path, console=True, port=8123))
    off = start_line(settings(tmp_path, port=8123))

    assert on.endswith(" | console: http://127.0.0.1:8123/console")
    assert "console" not in off
