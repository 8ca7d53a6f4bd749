"""Threads made through a real server, for the admin commands to find in its store."""

import asyncio
from datetime import timedelta
from pathlib import Path

from chatkit.store import NotFoundError

from chatkit_backend.context import RequestContext
from chatkit_backend.stores import open_store
from tests.client.conftest import Live

API_KEYS = {"key-alice": "alice", "key-bob": "bob"}
KEY_OF = {user: key for key, user in API_KEYS.items()}


def new_thread(
    live: Live, user: str, text: str, file: tuple[str, bytes] | None = None
) -> tuple[str, str | None]:
    """Send ``text`` as ``user`` in a new thread (with an uploaded text file); (thread id, attachment id)."""

    async def send() -> tuple[str, str | None]:
        async with live.client(api_key=KEY_OF[user]) as client:
            attachment_ids: list[str] = []
            if file is not None:
                attachment = await client.upload_direct(file[0], file[1], "text/plain")
                attachment_ids.append(attachment.id)
            reply = await client.send(text, attachments=attachment_ids)
            assert reply.thread_id is not None
            return reply.thread_id, attachment_ids[0] if attachment_ids else None

    return asyncio.run(send())


def file_of(live: Live, user: str, attachment_id: str) -> Path:
    """Where the server keeps an attachment's bytes."""
    return live.app.state.services.attachment_store.path_for(user, attachment_id)  # type: ignore[no-any-return]


def age_thread(live: Live, user: str, thread_id: str, days: float, items_too: bool = True) -> None:
    """Move a thread's creation (and its items') ``days`` into the past, through the store."""

    async def move() -> None:
        store = open_store(live.settings.resolved_database_url)
        context = RequestContext(user_id=user)
        try:
            thread = await store.load_thread(thread_id, context)
            thread.created_at = thread.created_at - timedelta(days=days)
            await store.save_thread(thread, context)
            if items_too:
                page = await store.load_thread_items(thread_id, None, 100, "asc", context)
                for item in page.data:
                    item.created_at = item.created_at - timedelta(days=days)
                    await store.save_item(thread_id, item, context)
        finally:
            await store.close()

    asyncio.run(move())


def thread_exists(live: Live, user: str, thread_id: str) -> bool:
    async def look() -> bool:
        store = open_store(live.settings.resolved_database_url)
        try:
            await store.load_thread(thread_id, RequestContext(user_id=user))
        except NotFoundError:
            return False
        finally:
            await store.close()
        return True

    return asyncio.run(look())
