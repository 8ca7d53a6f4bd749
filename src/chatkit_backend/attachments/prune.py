"""Removing uploads that were never sent in a message, once they are older than a TTL."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from chatkit_backend.attachments.factory import attachment_store_from_settings
from chatkit_backend.attachments.store import BackendAttachmentStore, PruneResult, stale_cutoff
from chatkit_backend.settings import Settings
from chatkit_backend.stores.base import BackendStore

logger = logging.getLogger("chatkit_backend.attachments")


async def prune(
    settings: Settings, store: BackendStore, older_than: float | None = None
) -> PruneResult:
    """Prune stale uploads older than ``older_than`` seconds (default ``CHATKIT_ATTACHMENT_TTL``)."""
    ttl = settings.attachment_ttl if older_than is None else older_than
    attachments = attachment_store_from_settings(settings, store)
    try:
        return await attachments.prune_stale(stale_cutoff(ttl))
    finally:
        await attachments.aclose()


async def prune_stale_uploads(settings: Settings, store: BackendStore) -> int:
    """One prune pass with the configured TTL; the number of attachments removed."""
    return len((await prune(settings, store)).attachments)


async def prune_forever(attachments: BackendAttachmentStore, interval: float, ttl: float) -> None:
    """Prune every ``interval`` seconds until cancelled; a failed pass is logged and retried."""
    while True:
        await asyncio.sleep(interval)
        try:
            await attachments.prune_stale(stale_cutoff(ttl))
        except Exception:
            logger.exception("pruning stale uploads failed; trying again in %ss", interval)


def start_pruning(settings: Settings, attachments: object) -> Callable[[], Awaitable[None]]:
    """Start the attachment store's background work; return the stopper for shutdown.

    With ``CHATKIT_PRUNE_INTERVAL`` > 0 that is a prune every that many seconds. The
    stopper also closes the store's storage connections (the S3 client), so the app's
    lifespan needs no other attachment hook.
    """
    if not isinstance(attachments, BackendAttachmentStore):
        return _nothing
    task = None
    if settings.prune_interval > 0:
        task = asyncio.create_task(
            prune_forever(attachments, settings.prune_interval, settings.attachment_ttl),
            name="chatkit-backend prune",
        )

    async def stop() -> None:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await attachments.aclose()

    return stop


async def _nothing() -> None:
    return None
