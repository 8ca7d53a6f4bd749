"""No route of ours can fall into the guide's 422 pitfall (``Request`` becoming a query parameter)."""

import ast
from pathlib import Path

import httpx
from fastapi import FastAPI

from chatkit_backend.app import create_app
from chatkit_backend.cli.doctor_checks import api_routes
from chatkit_backend.settings import Settings
from tests.routes.pitfall import pitfalls
from tests.routes.samples import broken_router, sound_router

ROUTES_DIR = Path(__file__).resolve().parents[1] / "src" / "chatkit_backend" / "routes"


def _sample_app(router_module: object) -> FastAPI:
    app = FastAPI()
    app.include_router(router_module.router)  # type: ignore[attr-defined]
    return app


def test_every_route_of_the_full_app_resolves_its_special_parameters(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, debug=True, console=True, attachments=True)
    app = create_app(settings)
    paths = {route.path for route in api_routes(app)}
    assert {settings.path, "/healthz", "/readyz", "/metrics", "/debug/routes", "/console"} <= paths
    assert pitfalls(app) == []


def test_checker_catches_the_pitfall_in_a_route_a_dependency_and_response_parameters() -> None:
    problems = pitfalls(_sample_app(broken_router))
    assert problems == [
        "/broken: broken_endpoint parameter 'request' annotated 'Request' became a query parameter",
        "/broken-dependency: user_of parameter 'request' annotated 'Request' became a query parameter",
        "/broken-response: broken_response parameter 'response' annotated 'Response' became a query parameter",
        "/broken-response: broken_response parameter 'tasks' annotated 'BackgroundTasks' became a query parameter",
    ]


async def test_the_broken_sample_really_answers_422() -> None:
    """The checker's sample reproduces the guide's symptom, so the check guards a real failure."""
    transport = httpx.ASGITransport(app=_sample_app(broken_router))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/broken")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "request"]


def test_checker_accepts_correct_routes() -> None:
    assert pitfalls(_sample_app(sound_router)) == []


def test_route_modules_never_postpone_annotations() -> None:
    """The cause of the pitfall is kept out of every module that declares routes."""
    offenders = []
    for path in sorted(ROUTES_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                if any(alias.name == "annotations" for alias in node.names):
                    offenders.append(path.name)
    assert offenders == []
