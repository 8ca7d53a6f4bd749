"""Where a ChatKit endpoint is: the URL a user gives, as a base URL and the endpoint's path.

Users hold one of two URLs: the endpoint's (what a front end's ``api.url`` holds,
``http://127.0.0.1:8000/chatkit``) or the server's base URL (``http://127.0.0.1:8000``).
``split_endpoint`` accepts both and tells them apart by the URL's path alone, with no
request:

- no ``path`` given (``None``):
    - a URL without a path (``http://host:8000``) is a base URL: the endpoint is at
      ``/chatkit``, the default ``CHATKIT_PATH``;
    - a URL with a path is the endpoint itself (``http://host/chatkit``,
      ``http://host/api/chatkit``, ``http://host/v1/chat`` for a custom ``CHATKIT_PATH``);
- ``path`` given: the URL is a base URL (it may end in a prefix, ``http://host/api``)
  and the endpoint is at ``path`` under it, unless the URL already ends with ``path``
  (then it names the endpoint: ``--url http://host/v1/chat --path /v1/chat`` is not
  doubled).

The base URL is the endpoint's URL without the endpoint's path: ``path`` when given, else
``/chatkit`` when the URL ends with it (a mount prefix before it stays: chatkit-backend's
``/attachments`` routes sit beside the endpoint), else the whole path (the server's
origin). So a base URL with a prefix and the default path must be written with the
endpoint (``http://host/api/chatkit``) or with ``path="/chatkit"``.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PATH = "/chatkit"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A ChatKit endpoint: ``base_url + path`` is its URL."""

    base_url: str
    """Scheme, host, port and any mount prefix, without a trailing slash."""
    path: str
    """The endpoint's path under ``base_url``, starting with ``/``."""

    @property
    def url(self) -> str:
        return self.base_url + self.path


def split_endpoint(url: str, path: str | None = None) -> Endpoint:
    """The endpoint that ``url`` (an endpoint URL or a base URL) and ``path`` name.

    Raises ``ValueError`` naming the problem when ``url`` is not an absolute ``http://``
    or ``https://`` URL, or carries a query or a fragment.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"{url!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8000/chatkit)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: the URL of a ChatKit endpoint has no query or fragment")
    origin = f"{parts.scheme}://{parts.netloc}"
    url_path = parts.path.rstrip("/")
    if path is None:
        if not url_path:
            return Endpoint(origin, DEFAULT_PATH)
        if url_path.endswith(DEFAULT_PATH):
            return Endpoint(origin + url_path.removesuffix(DEFAULT_PATH), DEFAULT_PATH)
        return Endpoint(origin, url_path)
    wanted = "/" + path.strip("/") if path.strip("/") else "/"
    if wanted != "/" and url_path.endswith(wanted):
        return Endpoint(origin + url_path.removesuffix(wanted), wanted)
    return Endpoint(origin + url_path, wanted)


__all__ = ["DEFAULT_PATH", "Endpoint", "split_endpoint"]
