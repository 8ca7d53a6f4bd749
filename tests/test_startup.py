"""What a start imports: only what the configuration uses (the hot-reload loop waits for it).

Each check runs in a fresh interpreter (a clean environment, an empty folder: the default
settings) and compares ``sys.modules`` with what ``chatkit.server`` (the SDK, which every
start needs) imports by itself. Times are measured by ``bench/startup.py``, not here.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from chatkit_backend.stores import migrations
from chatkit_backend.stores.schema import VERSION_TABLE
from tests.support.live import clean_env

# Third-party packages a default start (SQLite, offline model, auth none, no Redis) may
# import beyond the SDK's own, each with its reason. A new one fails the test: import it
# where it is used (``import`` inside the function), or add it here saying why.
DEFAULT_START = {
    "fastapi": "the app",
    "starlette": "the app",
    "annotated_doc": "fastapi's own dependency",
    "pydantic_settings": "the settings",
    "dotenv": "pydantic-settings reads .env",
    "prometheus_client": "/metrics",
    "sqlalchemy": "the default store is SQLite through SQLAlchemy",
    "greenlet": "SQLAlchemy's asyncio bridge",
    "aiosqlite": "the SQLite driver",
    "orjson": "fastapi's JSON",
}
# Never on a default start: they serve other configurations or other commands.
NEVER = [
    "alembic",  # only when a migration runs
    "mako",  # Alembic's templates
    "asyncpg",  # PostgreSQL
    "redis",  # CHATKIT_REDIS_URL
    "jwt",  # CHATKIT_AUTH=jwt
    "rich",  # the CLI's output
    "typer",  # the CLI
    "multipart",  # upload bodies, parsed on the first upload
    "chatkit_backend.cli",
    "chatkit_backend.client",
    "chatkit_backend.routes.console",  # CHATKIT_CONSOLE
]

PROBE = """
import asyncio, json, sys
import chatkit.server
sdk = set(sys.modules)
{body}
new = set(sys.modules) - sdk
packages = {{name.split(".")[0] for name in new}} - {{name.split(".")[0] for name in sdk}}
print(json.dumps({{"modules": sorted(new), "packages": sorted(packages)}}))
"""
START = """
from chatkit_backend.app import create_app

async def start():
    app = create_app()
    async with app.router.lifespan_context(app):
        pass

asyncio.run(start())
"""


def new_modules(body: str, folder: Path) -> set[str]:
    """The modules ``body`` imports beyond ``chatkit.server``, in a fresh interpreter, and
    (as ``package:<name>``) the top-level packages of which the SDK imported nothing."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    return {*found["modules"], *(f"package:{name}" for name in found["packages"])}


def third_party(modules: set[str]) -> set[str]:
    """The new top-level packages that are neither the standard library nor ours."""
    tops = {name.removeprefix("package:") for name in modules if name.startswith("package:")}
    stdlib = set(sys.stdlib_module_names)
    return {top for top in tops - stdlib if not top.startswith("_") and top != "chatkit_backend"}


def loaded(modules: set[str], name: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for module in modules)


@pytest.fixture(scope="module")
def starts(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], set[str]]:
    """The modules of a first start (new data folder) and of a second (schema current)."""
    folder = tmp_path_factory.mktemp("default-start")
    return new_modules(START, folder), new_modules(START, folder)


def test_a_default_start_imports_only_what_it_uses(starts: tuple[set[str], set[str]]) -> None:
    _, again = starts
    assert third_party(again) <= set(DEFAULT_START), (
        f"a default start imports {sorted(third_party(again) - set(DEFAULT_START))}"
    )
    assert [name for name in NEVER if loaded(again, name)] == []
    assert loaded(again, "sqlalchemy") and loaded(again, "aiosqlite")  # the probe sees imports


def test_alembic_loads_only_when_a_migration_runs(starts: tuple[set[str], set[str]]) -> None:
    first, again = starts
    assert loaded(first, "alembic")  # a new data folder: the schema is created
    assert not loaded(again, "alembic")  # at head: one read of the version table


def test_importing_the_app_loads_no_store_driver_nor_auth_library(tmp_path: Path) -> None:
    imported = new_modules("import chatkit_backend.app", tmp_path)
    heavy = ["sqlalchemy", "aiosqlite", "asyncpg", "alembic", "jwt", "redis", "rich", "typer"]
    assert [name for name in heavy if loaded(imported, name)] == []


def test_the_command_line_loads_only_the_command_that_runs(tmp_path: Path) -> None:
    """``serve --workers``/``--reload`` workers import the ``chatkit-backend`` script first."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; import chatkit_backend.cli.main; print(json.dumps(sorted(sys.modules)))",
        ],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    imported = set(json.loads(done.stdout))
    heavy = ["chatkit", "agents", "openai", "fastapi", "sqlalchemy", "httpx", "rich", "pydantic"]
    assert [name for name in heavy if loaded(imported, name)] == []


def test_the_cheap_revision_reads_agree_with_alembic(tmp_path: Path) -> None:
    scripts = ScriptDirectory.from_config(migrations.config())
    assert migrations.head() == scripts.get_current_head()
    assert migrations.known_revisions() == {script.revision for script in scripts.walk_revisions()}

    url = f"sqlite:///{tmp_path / 'chat.db'}"
    engine = create_engine(url)
    with engine.connect() as connection:
        before = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert before.get_current_revision() is None
        assert migrations._current_sync(connection) is None
    migrations.upgrade(url)
    with engine.connect() as connection:
        after = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert migrations._current_sync(connection) == after.get_current_revision()
        assert migrations._current_sync(connection) == migrations.head()
    engine.dispose()
