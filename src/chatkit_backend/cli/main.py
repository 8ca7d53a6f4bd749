"""The typer root: ``chatkit-backend <command>``.

Exit status, for every command: 0 on success, 1 when the command failed or found a
problem, 2 for a usage error: a bad option, or a bad setting (``SettingsError``, raised
by any command and turned into one ``error:`` line here, at the edge).

Commands are imported when they run (``COMMANDS`` names where each lives), not when this
module is: ``chatkit-backend serve`` does not pay for the store, the client or the
doctor, and neither does each worker process of ``serve --workers``/``--reload``, which
imports the ``chatkit-backend`` script (and so this module) before the app.
"""

import logging
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperGroup

USAGE_ERROR = 2

COMMANDS: dict[str, str] = {
    "serve": "chatkit_backend.cli.serve:serve",
    "chat": "chatkit_backend.cli.chat:chat",
    "doctor": "chatkit_backend.cli.doctor:doctor",
    "threads": "chatkit_backend.cli.threads:app",
    "prune": "chatkit_backend.cli.prune:prune",
    "attachments": "chatkit_backend.cli.attachments:app",
    "db": "chatkit_backend.cli.db:app",
    "import": "chatkit_backend.cli.import_hosted:app",
    "feedback": "chatkit_backend.cli.feedback:app",
    "usage": "chatkit_backend.cli.usage:usage",
}
"""Each command (a function) or group of commands (a ``typer.Typer``), as ``module:attribute``."""


def load_command(name: str, target: str) -> Any:
    """The click command for ``module:attribute``: a Typer becomes a group, a function a command."""
    module, _, attribute = target.partition(":")
    found = getattr(import_module(module), attribute)
    command: Any
    if isinstance(found, typer.Typer):
        command = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


class CommandGroup(TyperGroup):
    """The root group: commands load on first use, and a bad setting, wherever a command
    meets it, exits 2 like a bad option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, Any] = {}

    def list_commands(self, ctx: Any) -> list[str]:  # ctx: a click Context (typer vendors click)
        return [
            *super().list_commands(ctx),
            *(name for name in COMMANDS if name not in self.commands),
        ]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            if cmd_name not in self._loaded:
                self._loaded[cmd_name] = load_command(cmd_name, COMMANDS[cmd_name])
            return self._loaded[cmd_name]
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: Any) -> Any:
        from chatkit_backend.settings import SettingsError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            from chatkit_backend.cli.output import fail

            fail(str(exc), code=USAGE_ERROR)


app = typer.Typer(
    name="chatkit-backend",
    cls=CommandGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root() -> None:
    """A production-grade ChatKit backend: serve it, inspect it, administer it."""


def main() -> None:
    """The ``chatkit-backend`` script (and ``python -m chatkit_backend``)."""
    # A command reports its problems in its own `error:`/`warning:` lines. The package's
    # log records (a store outage logged with its traceback, an MCP server that does not
    # answer) are meant for a server's log, which `serve` sets up (uvicorn's log_config
    # replaces this handler); without a handler, Python's last resort would print them,
    # tracebacks included, before the command's own line.
    logging.getLogger("chatkit_backend").addHandler(logging.NullHandler())
    app()
