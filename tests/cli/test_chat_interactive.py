"""The interactive ``chatkit-backend chat`` in a pseudo-terminal, against ``chatkit-backend serve``.

The offline model waits between tokens, so the reply is seen growing on the screen
before it ends, then the thread commands are driven as a person would.
"""

import re
import sys
from collections.abc import Iterator
from typing import TypeAlias

import pexpect
import pytest

from tests.support.live import clean_env, run_serve

TOKEN_DELAY = "0.03"
REPLY_END = "then restart the server."
THREAD_LINE = re.compile(r"\(thread (thr_[0-9a-f]+)\)")
Child: TypeAlias = "pexpect.spawn[str]"  # generic for mypy only


def before(child: Child) -> str:
    """What the terminal showed before the last match."""
    assert isinstance(child.before, str)
    return child.before


def after(child: Child) -> str:
    """The text the last match matched."""
    assert isinstance(child.after, str)
    return child.after


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("chat") / "data"
    env = {"CHATKIT_DATA_DIR": str(data), "CHATKIT_OFFLINE_TOKEN_DELAY": TOKEN_DELAY}
    with run_serve(env) as (url, _process):
        yield url


@pytest.fixture
def chat(server: str) -> Iterator[Child]:
    env = clean_env({"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"})
    child = pexpect.spawn(
        sys.executable,
        ["-m", "chatkit_backend", "chat", "--url", server],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 200),
    )
    try:
        child.expect_exact("Type /help for commands.")
        child.expect_exact("you> ")
        yield child
    finally:
        child.close(force=True)


def _send_and_watch(child: Child, text: str) -> tuple[str | None, str, str]:
    """Send a message; return (a new thread's id, the screen while streaming, the whole reply)."""
    child.sendline(text)
    child.expect_exact("assistant> ")
    found = THREAD_LINE.search(before(child))
    child.expect_exact("You wrote:")
    partial = after(child)
    child.expect(pexpect.TIMEOUT, timeout=0.5)  # whatever arrives in the next half second
    partial += before(child)
    child.expect_exact(REPLY_END)
    child.expect_exact("you> ")
    return (found.group(1) if found else None), partial, partial + before(child)


def test_the_reply_appears_word_by_word_then_the_thread_commands_work(chat: Child) -> None:
    first, partial, whole = _send_and_watch(chat, "hello progressive")
    # Part of the reply was on screen while the rest was still coming.
    assert whole.startswith("You wrote: “hello progressive”.")
    assert REPLY_END not in partial
    assert len("You wrote:") < len(partial) < len(whole)
    assert first is not None

    chat.sendline("/new")
    chat.expect_exact("New thread: your next message starts it.")
    chat.expect_exact("you> ")
    second, _, _ = _send_and_watch(chat, "second thread")
    assert second is not None and second != first

    chat.sendline("/threads")
    chat.expect_exact("you> ")
    listing = before(chat)
    assert first in listing and second in listing
    assert re.search(rf"\*\s+{second}\s+second thread", listing)

    chat.sendline(f"/switch {first}")
    chat.expect_exact(f"Switched to {first}: hello progressive")
    chat.expect_exact("you> ")
    chat.sendline("/history")
    chat.expect_exact("you> hello progressive")
    chat.expect_exact("assistant> You wrote: “hello progressive”.")
    chat.expect_exact("you> ")

    chat.sendline("/switch thr_nowhere")
    chat.expect_exact("error: 404 not_found: thread 'thr_nowhere' not found")
    chat.expect_exact("you> ")

    chat.sendline("/quit")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0


def test_ctrl_c_stops_the_reply_and_keeps_the_session(chat: Child) -> None:
    chat.sendline("interrupt me")
    chat.expect(THREAD_LINE)
    assert isinstance(chat.match, re.Match)
    thread_id = chat.match.group(1)
    chat.expect_exact("You wrote:")
    chat.sendintr()
    chat.expect_exact("(stopped)")
    chat.expect_exact("you> ")
    assert REPLY_END not in before(chat)

    chat.sendline("/thread")
    chat.expect_exact(thread_id)  # the thread the stopped reply opened is still the current one
    chat.expect_exact("you> ")
    chat.sendline("/history")
    chat.expect_exact("you> interrupt me")
    chat.expect_exact("you> ")
    chat.sendeof()
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0
