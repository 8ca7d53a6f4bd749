"""The typer root: ``chatkit-backend <command>``."""

import typer

from chatkit_backend.cli import serve

app = typer.Typer(
    name="chatkit-backend",
    help="A production-grade ChatKit backend: serve it, inspect it, administer it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)


def main() -> None:
    app()
