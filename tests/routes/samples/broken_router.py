"""A deliberately broken router: the guide's 422 pitfall, for the checker's own test.

``from __future__ import annotations`` turns ``request: Request`` into the string
``"Request"``, and with ``Request`` imported only under ``TYPE_CHECKING`` FastAPI cannot
resolve it, so the parameter silently becomes a required query parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends

if TYPE_CHECKING:
    from fastapi import BackgroundTasks, Request, Response

router = APIRouter()


@router.post("/broken")
async def broken_endpoint(request: Request) -> dict[str, str]:
    return {"path": request.url.path}


def user_of(request: Request) -> str:
    return request.headers.get("x-user", "")


@router.get("/broken-dependency")
async def broken_dependency(user: str = Depends(user_of)) -> dict[str, str]:
    return {"user": user}


@router.post("/broken-response")
async def broken_response(response: Response, tasks: BackgroundTasks) -> dict[str, str]:
    return {}
