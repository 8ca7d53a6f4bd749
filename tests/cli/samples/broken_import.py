"""A server module that fails on import, as the guide's startup check would show."""

from fastapi import FastAPI

SETTINGS = {"model": "gpt"}

app = FastAPI(title=SETTINGS["title"])
