"""The web console at ``/console``: one page and its static files, served from the package.

The page is plain HTML, CSS and JavaScript modules (no build step, nothing from another
origin; the Markdown renderer and sanitizer are vendored in ``console/vendor/``). The
server injects what the page needs to know (endpoint path, auth mode, attachments, the
``CHATKIT_MODELS`` picker and the ``CHATKIT_TOOLS`` tool menu) as ``<meta>`` tags, since
the Content-Security-Policy forbids inline scripts.
"""

import html
import json
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from fastapi import APIRouter, Request, Response

from chatkit_backend.errors import NotFoundError
from chatkit_backend.settings import Settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE = "index.html"
VENDOR = "vendor"
"""Subfolder of third-party files (served as ``vendor/<name>``)."""


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str


def console_files() -> Traversable:
    """The folder inside the installed package that holds the console's files."""
    return files("chatkit_backend") / "console"


def load_static_files(folder: Traversable) -> dict[str, StaticFile]:
    """Every servable file of the folder and of its ``vendor`` subfolder (known types only),
    read once, by name (``vendor/marked.esm.js`` for a vendored one)."""
    found: dict[str, StaticFile] = {}
    for prefix, where in (("", folder), (f"{VENDOR}/", folder / VENDOR)):
        if not where.is_dir():
            continue
        for entry in where.iterdir():
            suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
            if entry.is_file() and entry.name != PAGE and suffix in MEDIA_TYPES:
                found[prefix + entry.name] = StaticFile(entry.read_bytes(), MEDIA_TYPES[suffix])
    return found


def page_meta(settings: Settings, root_path: str) -> dict[str, str]:
    """What the page reads from its ``<meta name="chatkit-...">`` tags."""
    return {
        "chatkit-path": f"{root_path}{settings.path}",
        "chatkit-auth": settings.auth,
        "chatkit-attachments": "on" if settings.attachments else "off",
        "chatkit-max-upload-bytes": str(settings.max_upload_bytes),
        "chatkit-models": json.dumps(model_options(settings)),
        "chatkit-tools": json.dumps(tool_options(settings)),
    }


def model_options(settings: Settings) -> list[dict[str, Any]]:
    """The model picker: ``CHATKIT_MODELS`` as ChatKit's ``composer.models`` options."""
    options: list[dict[str, Any]] = []
    default = next((entry.id for entry in settings.models if entry.default), None)
    for index, entry in enumerate(settings.models):
        option: dict[str, Any] = {"id": entry.id, "label": entry.label or entry.id}
        if entry.description:
            option["description"] = entry.description
        if entry.id == default or (default is None and index == 0):
            option["default"] = True
        options.append(option)
    return options


def tool_options(settings: Settings) -> list[dict[str, str]]:
    """The tool menu: the ``CHATKIT_TOOLS`` entries with an ``id`` (ChatKit's
    ``composer.tools``), never their URLs, commands or headers."""
    return [
        {"id": entry.id, "label": entry.label or entry.id, "type": entry.type}
        for entry in settings.tools
        if entry.id is not None
    ]


def render_page(template: str, meta: dict[str, str]) -> str:
    tags = "\n".join(
        f'    <meta name="{html.escape(name)}" content="{html.escape(value)}">'
        for name, value in meta.items()
    )
    return template.replace("    <!-- chatkit-meta -->", tags, 1)


def page_policy(settings: Settings) -> str:
    """The page's Content-Security-Policy; with S3 attachments, ``connect-src`` also allows
    the bucket (the page uploads to and previews from presigned URLs there)."""
    from chatkit_backend.attachments.factory import browser_origins

    origins = browser_origins(settings)
    if not origins:
        return CONTENT_SECURITY_POLICY
    return f"{CONTENT_SECURITY_POLICY}; connect-src 'self' {' '.join(origins)}"


def build_console_router(settings: Settings) -> APIRouter:
    """``GET /console`` and ``GET /console/static/{name}``."""
    folder = console_files()
    template = (folder / PAGE).read_text(encoding="utf-8")
    static = load_static_files(folder)
    page_headers = {**SECURITY_HEADERS, "Content-Security-Policy": page_policy(settings)}
    router = APIRouter()

    @router.get("/console", name="console", include_in_schema=False)
    async def console_page(request: Request) -> Response:
        root_path = str(request.scope.get("root_path", "")).rstrip("/")
        body = render_page(template, page_meta(settings, root_path))
        return Response(body, media_type=MEDIA_TYPES[".html"], headers=page_headers)

    @router.get("/console/static/{name:path}", name="console_static", include_in_schema=False)
    async def console_static(name: str) -> Response:
        found = static.get(name)
        if found is None:
            raise NotFoundError(f"no console file named {name!r}")
        return Response(found.body, media_type=found.media_type, headers=SECURITY_HEADERS)

    return router
