"""The app from ``create_app`` on a real uvicorn: CORS, operations endpoints, debug routes, redaction."""

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Header, Request
from prometheus_client.parser import text_string_to_metric_families

from chatkit_backend.app import cors_origins
from chatkit_backend.context import RequestContext
from chatkit_backend.deps import get_context
from tests.routes.live_app import (
    captured_log,
    create_body,
    error_of,
    make_settings,
    post,
    serve,
    wait_for_log,
)
from tests.stores.postgres import create_database, drop_database
from tests.support.live import sse_events

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,authorization",
}
LIST = {"type": "threads.list", "params": {}}


def preflight(base_url: str, origin: str) -> httpx.Response:
    return httpx.options(base_url + "/chatkit", headers={"Origin": origin, **PREFLIGHT}, timeout=10)


# -- CORS ----------------------------------------------------------------------------------------
def test_default_origins_are_both_local_dev_servers_and_the_own_origin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False)
    own = f"http://127.0.0.1:{settings.port}"
    assert cors_origins(settings) == [
        "http://localhost:3000",
        "http://127.0.0.1:3000",
        own,
        f"http://localhost:{settings.port}",
    ]
    with serve(settings) as (base_url, _):
        for origin in (
            "http://localhost:3000",
            "http://127.0.0.1:3000",
            own,
            f"http://localhost:{settings.port}",
        ):
            response = preflight(base_url, origin)
            assert response.status_code == 200, origin
            assert response.headers["access-control-allow-origin"] == origin
            assert response.headers["access-control-allow-credentials"] == "true"
            assert "POST" in response.headers["access-control-allow-methods"]
            assert response.headers["access-control-allow-headers"] == "content-type,authorization"
            assert "Origin" in response.headers["vary"]


def test_disallowed_origin_gets_no_allow_headers(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        response = preflight(base_url, "http://evil.example")
        error = error_of(response, 400)
        assert error == {
            **error,
            "code": "cors_rejected",
            "message": "Disallowed CORS origin (CHATKIT_CORS_ORIGINS lists the allowed origins)",
        }
        assert not [name for name in response.headers if name.startswith("access-control-")]
        simple = post(base_url, LIST, headers={"Origin": "http://evil.example"})
        assert error_of(simple, 403) == {
            **error_of(simple, 403),
            "code": "forbidden_origin",
            "message": "requests from origin 'http://evil.example' are not allowed: add it to CHATKIT_CORS_ORIGINS",
        }
        assert "access-control-allow-origin" not in simple.headers


def test_cross_site_simple_post_is_refused_before_it_acts(tmp_path: Path) -> None:
    """A page elsewhere can send a text/plain POST without a preflight; it must not act."""
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        forged = post(
            base_url,
            create_body(),
            headers={"Origin": "http://attacker.example", "Content-Type": "text/plain"},
        )
        assert error_of(forged, 403)["code"] == "forbidden_origin"
        listed = post(base_url, LIST)
        own = post(base_url, LIST, headers={"Origin": base_url})
    assert listed.json()["data"] == []
    assert own.status_code == 200


def test_allowed_origin_reads_the_request_id_on_a_post(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        response = post(base_url, LIST, headers={"Origin": "http://localhost:3000"})
        assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]
        stream = post(base_url, create_body(), headers={"Origin": "http://127.0.0.1:3000"})
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"


def test_configured_origins_replace_the_dev_defaults(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False, cors_origins=["https://app.example"])
    with serve(settings) as (base_url, _):
        assert (
            preflight(base_url, "https://app.example").headers["access-control-allow-origin"]
            == "https://app.example"
        )
        assert preflight(base_url, "http://localhost:3000").status_code == 400
        own = f"http://127.0.0.1:{settings.port}"
        assert preflight(base_url, own).headers["access-control-allow-origin"] == own


def test_wildcard_origin_allows_any_origin_without_credentials(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False, cors_origins=["*"])
    assert cors_origins(settings) == ["*"]
    with serve(settings) as (base_url, _):
        response = preflight(base_url, "https://anywhere.example")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        simple = post(base_url, LIST, headers={"Origin": "https://anywhere.example"})
        assert simple.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in simple.headers


# -- operations endpoints --------------------------------------------------------------------------
def test_healthz_and_readyz_answer(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        health = httpx.get(base_url + "/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = httpx.get(base_url + "/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready", "store": "sqlite"})


def test_readyz_is_503_when_the_database_goes_away(tmp_path: Path) -> None:
    url = create_database()
    try:
        settings = make_settings(
            tmp_path, attachments=False, database_url=url, db_auto_upgrade=True
        )
        with serve(settings) as (base_url, _):
            ready = httpx.get(base_url + "/readyz", timeout=15)
            assert (ready.status_code, ready.json()) == (
                200,
                {"status": "ready", "store": "postgresql"},
            )
            drop_database(url)
            down = httpx.get(base_url + "/readyz", timeout=15)
            error = error_of(down, 503)
            assert error["code"] == "unavailable"
            assert error["message"].startswith("store is not answering: ")
            assert httpx.get(base_url + "/healthz").status_code == 200
    finally:
        drop_database(url)


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"{name} {labels} not in metrics")


def test_metrics_count_requests_by_operation_and_status(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        for _ in range(3):
            post(base_url, LIST)
        post(base_url, create_body())
        post(base_url, {"type": "threads.get_by_id", "params": {"thread_id": "thr_missing"}})
        post(base_url, b"")
        response = httpx.get(base_url + "/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        text = response.text
        assert _metric(text, "chatkit_requests_total", operation="threads.list", status="200") == 3
        assert (
            _metric(text, "chatkit_requests_total", operation="threads.create", status="200") == 1
        )
        assert (
            _metric(text, "chatkit_requests_total", operation="threads.get_by_id", status="404")
            == 1
        )
        assert _metric(text, "chatkit_requests_total", operation="POST /chatkit", status="400") == 1
        assert (
            _metric(text, "chatkit_request_duration_seconds_count", operation="threads.list") == 3
        )
        assert (
            _metric(
                text,
                "chatkit_request_duration_seconds_bucket",
                operation="threads.create",
                le="+Inf",
            )
            == 1
        )
        assert _metric(text, "chatkit_open_streams") == 0


def test_metrics_show_open_streams(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False, offline_token_delay=0.05)) as (
        base_url,
        _,
    ):
        with httpx.Client(timeout=30) as client:
            with client.stream(
                "POST", base_url + "/chatkit", content=json.dumps(create_body())
            ) as stream:
                lines = stream.iter_lines()
                assert next(lines).startswith("data: ")
                assert _metric(httpx.get(base_url + "/metrics").text, "chatkit_open_streams") == 1
                assert any('"type":"thread.item.done"' in line for line in lines)
        assert _metric(httpx.get(base_url + "/metrics").text, "chatkit_open_streams") == 0


# -- debug -------------------------------------------------------------------------------------------
def test_debug_routes_list_every_route(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False, debug=True, console=False)) as (
        base_url,
        _,
    ):
        response = httpx.get(base_url + "/debug/routes")
        assert response.status_code == 200
        routes = {route["path"]: route for route in response.json()["routes"]}
        assert routes["/chatkit"] == {
            "path": "/chatkit",
            "methods": ["POST"],
            "name": "chatkit",
            "endpoint": "chatkit_backend.routes.chatkit.build_chatkit_router.<locals>.chatkit_endpoint",
        }
        assert {
            "/healthz",
            "/readyz",
            "/metrics",
            "/debug/routes",
            "/docs",
            "/openapi.json",
        } <= set(routes)
        assert routes["/healthz"]["methods"] == ["GET"]


def test_debug_routes_are_absent_without_debug(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        assert (
            error_of(httpx.get(base_url + "/debug/routes"), 404)["message"]
            == "no route for GET /debug/routes"
        )
        assert httpx.get(base_url + "/docs").status_code == 404


SECRETS = {
    "Authorization": "Bearer tok-SECRET-1",
    "Cookie": "session=SECRET-2",
    "X-API-Key": "SECRET-3",
}


def test_debug_request_log_has_method_redacted_headers_and_first_500_bytes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False, debug=True, console=False)
    prefix = b'{"type": "threads.list", "params": {}, "padding": "'
    body = prefix + b"x" * (500 - len(prefix)) + b"BEYOND-500" + b'"}'
    with serve(settings) as (base_url, _), captured_log() as log:
        response = post(base_url, body, headers={**SECRETS, "X-Custom": "visible"})
        assert response.status_code == 200
    lines = [line for line in log.getvalue().splitlines() if "chatkit_backend.requests" in line]
    assert len(lines) == 1
    line = lines[0]
    assert f"[{response.headers['x-request-id']}]" in line
    assert "POST /chatkit headers=" in line
    assert "'authorization': '[redacted]'" in line
    assert "'cookie': '[redacted]'" in line
    assert "'x-api-key': '[redacted]'" in line
    assert "'x-custom': 'visible'" in line
    assert "SECRET" not in log.getvalue()
    assert f"body={body[:500]!r}" in line
    assert "BEYOND-500" not in line


def test_requests_are_not_logged_in_detail_without_debug(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _), captured_log() as log:
        post(base_url, LIST, headers=SECRETS)
        text = wait_for_log(log, '"POST /chatkit" 200 threads.list')
    assert "chatkit_backend.requests" not in text
    assert "SECRET" not in text


# -- a context dependency of one's own ---------------------------------------------------------------
async def user_from_header(request: Request) -> RequestContext:
    """Needs only the request: ``create_app`` calls it directly, with no per-request injection."""
    return RequestContext(
        user_id=request.headers.get("x-test-user", "anonymous"), request_id=request.state.request_id
    )


def user_from_injected_header(x_test_user: Annotated[str, Header()]) -> RequestContext:
    """Needs FastAPI's injection (a required header, a plain ``def``): installed as an override."""
    return RequestContext(user_id=x_test_user)


def _thread_ids(base_url: str, user: str) -> list[str]:
    response = post(base_url, LIST, headers={"X-Test-User": user})
    assert response.status_code == 200, response.text
    return [thread["id"] for thread in response.json()["data"]]


@pytest.mark.parametrize("dependency", [user_from_header, user_from_injected_header])
def test_custom_context_dependency_scopes_threads_to_its_user(
    tmp_path: Path, dependency: Any
) -> None:
    with serve(make_settings(tmp_path, attachments=False), context=dependency) as (base_url, app):
        if dependency is user_from_header:
            assert app.state.services.context_builder is user_from_header
            assert app.dependency_overrides == {}
        else:
            assert app.dependency_overrides == {get_context: user_from_injected_header}
        created = post(base_url, create_body(), headers={"X-Test-User": "alice"})
        thread_id = sse_events(created.text)[0]["thread"]["id"]
        assert _thread_ids(base_url, "alice") == [thread_id]
        assert _thread_ids(base_url, "bob") == []


def test_custom_context_dependency_validation_errors_keep_the_error_shape(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False), context=user_from_injected_header) as (
        base_url,
        _,
    ):
        error = error_of(post(base_url, LIST), 422)
    assert error == {
        **error,
        "code": "invalid_request",
        "message": "header.x-test-user: Field required",
    }


def test_dns_rebinding_page_cannot_read_the_local_users_threads(tmp_path: Path) -> None:
    """With CHATKIT_AUTH=none, a page on attacker.example that rebinds its name to 127.0.0.1
    is "same host" by name: its Host and Origin agree, and it must still be refused."""
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        port = base_url.rsplit(":", 1)[1]
        rebound = post(
            base_url,
            LIST,
            headers={
                "Host": f"attacker.example:{port}",
                "Origin": f"http://attacker.example:{port}",
            },
        )
    assert error_of(rebound, 403)["code"] == "forbidden_origin"


def test_with_credentials_a_page_served_by_this_host_under_any_name_may_post(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, attachments=False, auth="api-key", api_keys={"k-1": "alice"})
    with serve(settings) as (base_url, _):
        port = base_url.rsplit(":", 1)[1]
        response = post(
            base_url,
            LIST,
            headers={
                "Host": f"chat.internal:{port}",
                "Origin": f"http://chat.internal:{port}",
                "X-API-Key": "k-1",
            },
        )
    assert response.status_code == 200
