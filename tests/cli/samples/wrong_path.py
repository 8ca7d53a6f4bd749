"""The ChatKit endpoint at another path than the UI calls."""

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI()
app.add_middleware(
    CORSMiddleware,
    allow_origins=["http://localhost:3000", "http://127.0.0.1:3000"],
    allow_methods=["*"],
    allow_headers=["*"],
)


@app.post("/api/chat")
async def chatkit_endpoint(request: Request) -> dict[str, str]:
    return {"path": request.url.path}
