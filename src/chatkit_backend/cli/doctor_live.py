"""The doctor's checks of a running server: a ``threads.list`` and a CORS preflight."""

import httpx

from chatkit_backend.cli.doctor_checks import Finding
from chatkit_backend.client import (
    ChatKitClient,
    ChatKitError,
    NotFound,
    TransportError,
    Unauthorized,
)
from chatkit_backend.client.urls import Endpoint


async def check_threads_list(endpoint: Endpoint, api_key: str | None, seconds: float) -> Finding:
    """POST ``threads.list`` the way the ChatKit UI does on load."""
    url = endpoint.url
    async with ChatKitClient(url, path=endpoint.path, api_key=api_key, timeout=seconds) as client:
        try:
            page = await client.list_threads(limit=5)
        except Unauthorized as exc:
            return Finding(
                "live",
                "problem",
                f"POST {url} threads.list answered 401: {exc.message}",
                fix="pass the key with --api-key (or CHATKIT_API_KEY)",
            )
        except NotFound as exc:
            return Finding(
                "live",
                "problem",
                f"POST {url} threads.list answered 404: {exc.message}",
                fix="check --url: give the ChatKit endpoint's URL, as the front end's api.url "
                "holds it (the routes check lists the app's routes)",
            )
        except TransportError as exc:
            return Finding(
                "live",
                "problem",
                f"cannot reach {url}: {exc.message}",
                fix="start the server (`chatkit-backend serve`) or check --url",
            )
        except ChatKitError as exc:
            request = f" (request id {exc.request_id})" if exc.request_id else ""
            return Finding(
                "live",
                "problem",
                f"POST {url} threads.list failed: {exc}{request}",
                fix="the server log has the details under the request id",
            )
    more = "+" if page.has_more else ""
    return Finding(
        "live", "ok", f"POST {url} answered threads.list ({len(page.data)}{more} threads)"
    )


async def check_preflight(where: Endpoint, origin: str, seconds: float) -> Finding:
    """Send the browser's OPTIONS preflight from ``origin``."""
    endpoint = where.url
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    try:
        async with httpx.AsyncClient(timeout=seconds) as http:
            response = await http.options(endpoint, headers=headers)
    except httpx.HTTPError as exc:
        return Finding(
            "preflight",
            "problem",
            f"OPTIONS {endpoint} failed: {type(exc).__name__}: {exc}",
            fix="start the server (`chatkit-backend serve`) or check --url",
        )
    allowed = response.headers.get("access-control-allow-origin")
    if response.status_code < 300 and allowed in (origin, "*"):
        return Finding(
            "preflight", "ok", f"OPTIONS {endpoint} from {origin} allowed ({response.status_code})"
        )
    if response.status_code == 405:
        return Finding(
            "preflight",
            "problem",
            f"OPTIONS {endpoint} from {origin} answered 405: the server has no CORS middleware",
            fix="add CORSMiddleware listing the UI's origin (chatkit-backend: CHATKIT_CORS_ORIGINS)",
        )
    return Finding(
        "preflight",
        "problem",
        f"OPTIONS {endpoint} from {origin} answered {response.status_code} without allowing the origin"
        + (f": {response.text.strip()[:200]}" if response.text.strip() else ""),
        fix=f"add {origin!r} to the allowed origins (chatkit-backend: CHATKIT_CORS_ORIGINS), "
        "or pass --origin with the UI's real origin",
    )
