"""No CORS middleware at all: the browser's preflight answers 405."""

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/chatkit")
async def chatkit_endpoint(request: Request) -> dict[str, str]:
    return {"path": request.url.path}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
