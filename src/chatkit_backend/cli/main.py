"""The typer root: ``chatkit-backend <command>``."""

import typer

from chatkit_backend.cli import attachments, chat, db, doctor, prune, serve, threads

app = typer.Typer(
    name="chatkit-backend",
    help="A production-grade ChatKit backend: serve it, inspect it, administer it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("chat")(chat.chat)
app.command("doctor")(doctor.doctor)
app.add_typer(threads.app, name="threads")
app.command("prune")(prune.prune)
app.add_typer(attachments.app, name="attachments")
app.add_typer(db.app, name="db")


def main() -> None:
    app()
