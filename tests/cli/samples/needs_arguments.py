"""A factory that cannot be called bare, as ``uvicorn --factory`` would call it."""

from fastapi import FastAPI


def create_app(debug: bool) -> FastAPI:
    return FastAPI(debug=debug)
