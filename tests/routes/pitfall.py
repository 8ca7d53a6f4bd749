"""The guide's 422 pitfall as a check over a FastAPI app's routes.

A parameter annotated ``Request`` (or ``Response``, ``WebSocket``, ``BackgroundTasks``)
that FastAPI cannot resolve, for instance behind ``from __future__ import annotations``
with the import local or under ``TYPE_CHECKING``, silently becomes a required query (or
body) parameter, and every call answers 422. ``pitfalls(app)`` walks every route and
every dependency and lists each such parameter.
"""

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, get_args, get_origin

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from starlette.background import BackgroundTasks
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket

SPECIAL_CLASSES: tuple[type, ...] = (Request, Response, WebSocket, BackgroundTasks, HTTPConnection)
SPECIAL_NAMES = frozenset(cls.__name__ for cls in SPECIAL_CLASSES)


def _is_special(annotation: Any) -> bool:
    if isinstance(annotation, str):
        text = annotation.strip()
        if text.startswith(("Annotated[", "typing.Annotated[")):
            text = text.split("[", 1)[1].split(",", 1)[0]
        return text.split("[", 1)[0].rsplit(".", 1)[-1].strip() in SPECIAL_NAMES
    if get_origin(annotation) is Annotated:
        return _is_special(get_args(annotation)[0])
    return isinstance(annotation, type) and issubclass(annotation, SPECIAL_CLASSES)


def special_parameters(call: Callable[..., Any]) -> dict[str, Any]:
    """Parameters of ``call`` whose written annotation names a special class (unevaluated)."""
    try:
        signature = inspect.signature(call, eval_str=False)
    except (TypeError, ValueError):
        return {}
    return {
        name: parameter.annotation
        for name, parameter in signature.parameters.items()
        if parameter.annotation is not inspect.Parameter.empty and _is_special(parameter.annotation)
    }


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _misplaced(dependant: Dependant) -> Iterator[tuple[str, str]]:
    kinds = {
        "query": dependant.query_params,
        "body": dependant.body_params,
        "header": dependant.header_params,
        "cookie": dependant.cookie_params,
        "path": dependant.path_params,
    }
    for kind, fields in kinds.items():
        for field in fields:
            yield field.name, kind


def routes_with_dependants(app: FastAPI) -> Iterator[tuple[str, Dependant]]:
    """(path, dependant) of every route, through included routers.

    FastAPI 0.16x keeps included routers as lazy ``_IncludedRouter`` entries in
    ``app.routes``; ``routing.iter_route_contexts`` flattens them. Older versions copy the
    routes into ``app.routes`` directly.
    """
    iterate = getattr(routing, "iter_route_contexts", None)
    routes: Iterable[Any] = iterate(app.routes) if iterate else app.routes
    for route in routes:
        dependant = getattr(route, "dependant", None)
        if isinstance(dependant, Dependant):
            yield str(route.path), dependant


def pitfalls(app: FastAPI) -> list[str]:
    """Every special parameter, in a route or a dependency, that became a plain parameter."""
    problems: list[str] = []
    for path, root in routes_with_dependants(app):
        for dependant in _dependants(root):
            if dependant.call is None:
                continue
            special = special_parameters(dependant.call)
            for name, kind in _misplaced(dependant):
                if name in special:
                    where = getattr(dependant.call, "__qualname__", repr(dependant.call))
                    problems.append(
                        f"{path}: {where} parameter {name!r} annotated {special[name]!r} "
                        f"became a {kind} parameter"
                    )
    return problems
