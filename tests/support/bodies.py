"""ChatKit request bodies the tests send."""

from typing import Any


def user_input(text: str, attachments: list[str] | None = None) -> dict[str, Any]:
    """A user message (``params.input``): one text part, attachments by id."""
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": attachments or [],
        "inference_options": {},
    }


def create_body(text: str = "hi", attachments: list[str] | None = None) -> dict[str, Any]:
    """A ``threads.create`` request starting a thread with one user message."""
    return {"type": "threads.create", "params": {"input": user_input(text, attachments)}}
