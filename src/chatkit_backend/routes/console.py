"""The web console at ``/console``: one page and its static files, served from the package.

The page is plain HTML, CSS and JavaScript modules (no build step, nothing from another
origin). The server injects what the page needs to know (endpoint path, auth mode,
attachments) as ``<meta>`` tags, since the Content-Security-Policy forbids inline scripts.
"""

import html
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

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


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str


def console_files() -> Traversable:
    """The folder inside the installed package that holds the console's files."""
    return files("chatkit_backend") / "console"


def load_static_files(folder: Traversable) -> dict[str, StaticFile]:
    """Every servable file of the folder (known types only, no subfolders), read once."""
    found: dict[str, StaticFile] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and entry.name != PAGE and suffix in MEDIA_TYPES:
            found[entry.name] = StaticFile(entry.read_bytes(), MEDIA_TYPES[suffix])
    return found


def page_meta(settings: Settings, root_path: str) -> dict[str, str]:
    """What the page reads from its ``<meta name="chatkit-...">`` tags."""
    return {
        "chatkit-path": f"{root_path}{settings.path}",
        "chatkit-auth": settings.auth,
        "chatkit-attachments": "on" if settings.attachments else "off",
        "chatkit-max-upload-bytes": str(settings.max_upload_bytes),
    }


def render_page(template: str, meta: dict[str, str]) -> str:
    tags = "\n".join(
        f'    <meta name="{html.escape(name)}" content="{html.escape(value)}">'
        for name, value in meta.items()
    )
    return template.replace("    <!-- chatkit-meta -->", tags, 1)


def build_console_router(settings: Settings) -> APIRouter:
    """``GET /console`` and ``GET /console/static/{name}``."""
    folder = console_files()
    template = (folder / PAGE).read_text(encoding="utf-8")
    static = load_static_files(folder)
    router = APIRouter()

    @router.get("/console", name="console", include_in_schema=False)
    async def console_page(request: Request) -> Response:
        root_path = str(request.scope.get("root_path", "")).rstrip("/")
        body = render_page(template, page_meta(settings, root_path))
        return Response(body, media_type=MEDIA_TYPES[".html"], headers=SECURITY_HEADERS)

    @router.get("/console/static/{name}", name="console_static", include_in_schema=False)
    async def console_static(name: str) -> Response:
        found = static.get(name)
        if found is None:
            raise NotFoundError(f"no console file named {name!r}")
        return Response(found.body, media_type=found.media_type, headers=SECURITY_HEADERS)

    return router
