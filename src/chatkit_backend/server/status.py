"""Thread status, enforced: a locked or closed thread takes no new replies.

ChatKit threads carry a status (``active``, ``locked`` or ``closed``, the last two with
an optional reason) that the front end shows by disabling the composer; the SDK leaves
enforcing it to the server. Every request that would start a reply on a thread
(``threads.add_user_message``, ``threads.retry_after_item``,
``threads.add_client_tool_output``, ``threads.add_structured_input``,
``threads.custom_action``) is refused before its stream starts: 409 ``thread_locked``
or ``thread_closed``, with the reason in the message. Reads, renames, deletes, feedback
and ``threads.sync_custom_action`` (which updates a widget and starts no reply) still
work.

The status is set with ``BackendStore.set_thread_status``, the ``chatkit-backend threads
lock|close|reopen`` commands, or by a tool or action that changes ``thread.status``
during a reply (saved, and sent to the client as ``thread.updated``).
"""

from chatkit.types import ClosedStatus, LockedStatus, ThreadMetadata

from chatkit_backend.errors import ThreadClosedError, ThreadLockedError


def check_accepts_replies(thread: ThreadMetadata) -> None:
    """Raise ``ThreadLockedError`` or ``ThreadClosedError`` (409) unless ``thread`` is active."""
    status = thread.status
    if isinstance(status, LockedStatus):
        raise ThreadLockedError(_message(thread, "locked", status.reason))
    if isinstance(status, ClosedStatus):
        raise ThreadClosedError(_message(thread, "closed", status.reason))


def _message(thread: ThreadMetadata, state: str, reason: str | None) -> str:
    message = f"thread {thread.id!r} is {state}"
    if reason and reason.strip():
        return f"{message}: {reason.strip()}"
    return f"{message} and takes no new messages"
