"""The docs are true: every setting is in the README's table, every link resolves, and every
code block of README.md and docs/*.md runs (every ``.md`` there is picked up as it appears).

How a fenced code block is treated, by its language tag:

- ``python``: executed in this process, in an empty temporary folder with no ``CHATKIT_*``
  or ``OPENAI_*`` variable and no ``.env``. Top-level ``await`` and ``async with`` work
  (as in ``python -m asyncio``). The block must not raise.
- ``sh``, ``bash``, ``shell``: run by ``bash`` (``set -euo pipefail``) in an empty
  temporary folder, with a clean environment where ``chatkit-backend`` and ``python``
  are this checkout's. Every command must succeed:
    - ``curl`` fails on an HTTP error (it runs with ``--fail-with-body``);
    - ``chatkit-backend serve`` (or ``python -m chatkit_backend serve``) is started, must
      answer ``/healthz`` within two minutes, and is stopped; it listens on a free port
      (``CHATKIT_PORT``) and in the folder's ``./data``;
    - programs listed in ``NOT_RUN`` below (``pip``, ``npm``, ``make``) are not run: the
      line keeps only the variables it sets (``CHATKIT_CONSOLE=true make run``);
    - the ``CHATKIT_*`` variables a block sets must make valid settings.
- ``console``: as ``sh``, with only the lines after ``$ `` run; other lines show output.
- ``json``: must parse.
- anything else (no tag for shown output, ``ts``, ``tsx``, ``html``, ``nginx``, ``text``):
  not run.

``http://127.0.0.1:8000`` and ``localhost:8000`` in a block mean the docs server: a real
chatkit-backend (uvicorn on a free port, SQLite in a temporary folder, the offline
model) that the test starts and writes into the block in their place; shell blocks also
get ``CHATKIT_URL`` pointing at it, so ``chatkit-backend chat`` without ``--url`` talks
to it.

A block that cannot run is marked by an HTML comment on the line right before it, with
the reason (say why, and what test covers it instead, if one does):

    <!-- docs-test: skip (myapp is the reader's project; test_doctor.py checks this report) -->

Another comment there, ``<!-- docs-test: before: COMMAND -->``, runs ``COMMAND`` with
``bash`` in the block's folder first (to create a file the block reads, say). Comments
stack: several on consecutive lines before a block all apply. Keep skips few: a block a
reader copies should run as written.
"""

import ast
import asyncio
import dataclasses
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chatkit_backend.app import create_app
from chatkit_backend.context import RequestContext
from chatkit_backend.settings import Settings, SettingsError, load_settings
from tests.support.live import clean_env, free_port, run_app

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_settings_table  # type: ignore[import-not-found]  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PYTHON = ("python", "py")
SHELL = ("sh", "bash", "shell")
CONSOLE = ("console",)
RUN = (*PYTHON, *SHELL, *CONSOLE, "json")
NOT_RUN = {
    "pip": "installs from PyPI; the checkout is installed already",
    "npm": "installs a JavaScript package from npm",
    "make": "its targets create the venv and run the suite; CI runs them (.ci/run)",
}
DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
DOCS_SERVER = re.compile(r"(?:localhost|127\.0\.0\.1):8000\b")
SERVE = re.compile(r"(?P<program>chatkit-backend|python -m chatkit_backend)\s+serve\b")
SERVE_TIMEOUT = 120
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

SHELL_PRELUDE = """\
set -euo pipefail
set -a  # plain assignments are exported: the test checks the settings a block sets
curl() { command curl --fail-with-body --silent --show-error "$@"; }
docs_serve() {  # start the server, wait for /healthz, stop it
  "$@" &
  local pid=$! deadline=$((SECONDS + %(timeout)d))
  until command curl --silent --fail "http://127.0.0.1:$CHATKIT_PORT/healthz" >/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; echo "serve exited" >&2; return 1; fi
    if ((SECONDS > deadline)); then kill "$pid"; echo "no /healthz" >&2; return 1; fi
    sleep 0.1
  done
  kill -TERM "$pid"
  wait "$pid" || true
}
"""


@dataclass
class Block:
    """A fenced code block of a Markdown file, with the docs-test comments before it."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None = None
    before: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start, indent = index, opening["indent"]
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index].removeprefix(indent))
            index += 1
        block = Block(path, start + 1, opening["lang"].lower(), textwrap.dedent("\n".join(body)))
        _read_directives(block, lines, start)
        yield block
        index += 1


def _read_directives(block: Block, lines: list[str], fence: int) -> None:
    above = fence - 1
    while above >= 0 and (match := DIRECTIVE.match(lines[above])):
        body = match["body"]
        if skip := re.fullmatch(r"skip\s*\((?P<reason>.+)\)", body):
            block.skip = skip["reason"].strip()
        elif body.startswith("before:"):
            block.before.insert(0, body.removeprefix("before:").strip())
        else:
            block.unknown.append(body)
        above -= 1


ALL_BLOCKS = [block for path in doc_files() for block in code_blocks(path)]
RUNNABLE = [block for block in ALL_BLOCKS if block.lang in RUN]


# -- the settings table and links ------------------------------------------------------------
def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert gen_settings_table.render(readme) == readme, (
        "README settings table is stale: run .venv/bin/python scripts/gen_settings_table.py"
    )


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, setting in Settings.model_fields.items():
        assert f"`CHATKIT_{name.upper()}`" in readme
        assert setting.description, f"setting {name} has no description"


def test_quickstart_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("```", 2)[1]
    commands = [line for line in section.splitlines()[1:] if line.strip()]
    assert [c.split("#")[0].strip() for c in commands] == ["make run", "make test"]


def test_relative_links_in_docs_resolve() -> None:
    for doc in doc_files():
        for target in re.findall(r"\]\(((?:docs/|\./|\.\./)?[\w./-]+\.md)\)", doc.read_text()):
            assert (doc.parent / target).resolve().exists(), f"{doc.name} links to missing {target}"


def test_the_readme_gives_create_app_s_real_signature() -> None:
    readme = (ROOT / "README.md").read_text()
    (stated,) = re.findall(r"^`create_app\((.*)\)`:$", readme, re.M)
    names = [part.split("=")[0].strip() for part in stated.split(",") if part.strip() != "*"]
    assert names == list(inspect.signature(create_app).parameters)


# -- the convention itself ---------------------------------------------------------------------
def test_blocks_are_found_in_every_doc() -> None:
    assert {block.path.name for block in RUNNABLE} >= {"README.md", "cli.md", "auth.md"}
    assert len(RUNNABLE) >= 20


def test_every_directive_is_known_and_every_skip_says_why() -> None:
    for block in ALL_BLOCKS:
        assert not block.unknown, f"{block.id}: unknown docs-test comment {block.unknown}"
        if block.skip is not None:
            assert len(block.skip.split()) >= 3, f"{block.id}: say why the block cannot run"
            assert block.lang in RUN, f"{block.id}: a {block.lang!r} block is never run"


def test_the_request_context_shape_in_auth_md_matches_the_class() -> None:
    (block,) = [b for b in ALL_BLOCKS if "class RequestContext:" in b.text]
    documented = re.findall(r"^    (\w+): ", block.text, re.M)
    assert documented == [f.name for f in dataclasses.fields(RequestContext)]


# -- running the blocks --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real chatkit-backend for the blocks that talk to ``127.0.0.1:8000``: its host:port."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("docs-server"), offline_token_delay=0.0, port=free_port()
    )
    with run_app(create_app(settings), port=settings.port):
        yield f"127.0.0.1:{settings.port}"


@pytest.mark.timeout(SERVE_TIMEOUT * 4)
@pytest.mark.parametrize("block", RUNNABLE, ids=[block.id for block in RUNNABLE])
def test_code_block_runs(block: Block, docs_server: str, tmp_path: Path) -> None:
    if block.skip is not None:
        pytest.skip(f"{block.id}: {block.skip}")
    text = DOCS_SERVER.sub(docs_server, block.text)
    before_env = clean_env({"PATH": f"{VENV_BIN}:{os.environ['PATH']}"})  # as a reader runs it
    for command in block.before:
        subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=before_env, check=True, timeout=60
        )
    if block.lang == "json":
        json.loads(text)
    elif block.lang in PYTHON:
        run_python(block, text, tmp_path)
    else:
        run_shell(block, text, tmp_path, docs_server)


def run_python(block: Block, text: str, folder: Path) -> None:
    """Execute the block as a module of its own; top-level ``await`` allowed."""
    os.chdir(folder)
    padded = "\n" * block.line + text  # tracebacks name the line in the Markdown file
    code = compile(
        padded, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    name = f"docs_block_{block.path.stem}_{block.line}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        result = eval(code, module.__dict__)
        if inspect.iscoroutine(result):
            asyncio.run(result)
    finally:
        del sys.modules[name]


def shell_commands(block: Block, text: str) -> list[str]:
    """The block's command lines (continuations kept), without those of ``NOT_RUN``."""
    lines = text.splitlines()
    if block.lang in CONSOLE:
        commands, continued = [], False
        for line in lines:
            if line.startswith("$ ") or continued:
                commands.append(line.removeprefix("$ "))
                continued = line.rstrip().endswith("\\")
        lines = commands
    kept: list[str] = []
    joined = "\n".join(lines).replace("\\\n", "\x00")  # one entry per command
    for command in joined.splitlines():
        try:
            words = shlex.split(command.replace("\x00", " "), comments=True)
        except ValueError:  # an unbalanced quote: let bash say what is wrong
            words = []
        program = next((word for word in words if not ASSIGNMENT.match(word)), "")
        if program in NOT_RUN:  # keep its variables: the settings check still sees them
            assignments = [word.split("=", 1) for word in words[: words.index(program)]]
            if assignments:
                kept.append(" ".join(f"{name}={shlex.quote(value)}" for name, value in assignments))
            continue
        kept.append(SERVE.sub(r"docs_serve \g<program> serve", command.replace("\x00", "\\\n")))
    return kept


def run_shell(block: Block, text: str, folder: Path, server: str) -> None:
    commands = shell_commands(block, text)
    env_out = folder / ".docs-env"
    script = "\n".join(
        [SHELL_PRELUDE % {"timeout": SERVE_TIMEOUT}, *commands, f"env -0 > {env_out}"]
    )
    port = str(free_port())
    env = clean_env(
        {
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
            "CHATKIT_PORT": port,  # for `serve`
            "CHATKIT_URL": f"http://{server}/chatkit",  # for `chat` without --url
        }
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SERVE_TIMEOUT * 3,
    )
    assert done.returncode == 0, (
        f"{block.id} failed ({done.returncode}):\n{script}\n--- stdout\n{done.stdout}"
        f"\n--- stderr\n{done.stderr}"
    )
    check_settings(block, env_out, env)


def check_settings(block: Block, env_out: Path, before: dict[str, str]) -> None:
    """The CHATKIT_* (and OPENAI_*) variables the block set make valid settings."""
    after = dict(entry.split("=", 1) for entry in env_out.read_text().split("\0") if "=" in entry)
    chosen = {
        name: value
        for name, value in after.items()
        if name.startswith(("CHATKIT_", "OPENAI_")) and before.get(name) != value
    }
    if not chosen:
        return
    with pytest.MonkeyPatch.context() as patch:
        for name, value in chosen.items():
            patch.setenv(name, value)
        try:
            load_settings()
        except SettingsError as exc:
            pytest.fail(f"{block.id} sets invalid settings: {exc}")
