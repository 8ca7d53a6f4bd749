"""The guide's 422 pitfall as the tests state it: the doctor's check, one line per parameter.

A parameter annotated ``Request`` (or ``Response``, ``WebSocket``, ``BackgroundTasks``)
that FastAPI cannot resolve, for instance behind ``from __future__ import annotations``
with the import local or under ``TYPE_CHECKING``, silently becomes a required query (or
body) parameter, and every call answers 422. The walk over every route and dependency is
``chatkit-backend doctor``'s (``misread_parameters``).
"""

from fastapi import FastAPI

from chatkit_backend.cli.doctor_checks import api_routes, misread_parameters


def pitfalls(app: FastAPI) -> list[str]:
    """Every special parameter, in a route or a dependency, that became a plain parameter."""
    return [
        f"{misread.route.path}: {getattr(misread.call, '__qualname__', repr(misread.call))} "
        f"parameter {misread.name!r} annotated {misread.annotation!r} became a {misread.kind} parameter"
        for misread in misread_parameters(api_routes(app))
    ]
