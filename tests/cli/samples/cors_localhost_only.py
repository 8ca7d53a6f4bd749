"""CORS that lists ``localhost`` but not ``127.0.0.1``: the UI fails when opened at the other name."""

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI()
app.add_middleware(
    CORSMiddleware,
    allow_origins=["http://localhost:3000"],
    allow_methods=["*"],
    allow_headers=["*"],
)


@app.post("/chatkit")
async def chatkit_endpoint(request: Request) -> dict[str, str]:
    return {"path": request.url.path}
