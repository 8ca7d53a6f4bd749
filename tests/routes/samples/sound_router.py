"""A correct router (real classes in the annotations): the checker must accept it."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, WebSocket

router = APIRouter()


def user_of(request: Request) -> str:
    return request.headers.get("x-user", "")


@router.post("/sound")
async def sound_endpoint(
    request: Request,
    response: Response,
    tasks: BackgroundTasks,
    user: Annotated[str, Depends(user_of)],
) -> dict[str, str]:
    return {"path": request.url.path, "user": user}


@router.websocket("/sound-ws")
async def sound_socket(websocket: WebSocket) -> None:
    await websocket.close()
