"""The guide's 422 pitfall: postponed annotations with ``Request`` imported only for type checkers.

Exempt from the project's no-future-annotations rule: it exists to show the problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

if TYPE_CHECKING:
    from fastapi import Request

app = FastAPI()
app.add_middleware(
    CORSMiddleware,
    allow_origins=["http://localhost:3000", "http://127.0.0.1:3000"],
    allow_methods=["*"],
    allow_headers=["*"],
)


@app.post("/chatkit")
async def chatkit_endpoint(
    request: Request,
) -> dict[str, str]:
    return {"path": request.url.path}
