"""Every command has help and is documented in docs/cli.md, every option included."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import command_tree, invoke, leaf_commands

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

ALL = list(command_tree())
LEAVES = leaf_commands()


def section(name: str) -> str:
    """The docs section under the heading ``## `chatkit-backend <name>` ``."""
    text = DOCS.read_text()
    match = re.search(
        rf"^## `chatkit-backend {re.escape(name)}`\n(.*?)(?=^## |\Z)", text, re.M | re.S
    )
    assert match, f"docs/cli.md has no section for `chatkit-backend {name}`"
    return match.group(1)


def test_the_tree_holds_the_commands_we_ship() -> None:
    names = {" ".join(path) for path, _ in LEAVES}
    assert {
        "serve",
        "chat",
        "doctor",
        "prune",
        "threads list",
        "threads show",
        "threads export",
        "threads delete",
        "db upgrade",
        "db current",
        "attachments prune",
    } <= names


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "root" for p, _ in ALL])
def test_every_command_and_group_has_help(path: tuple[str, ...], command: Any) -> None:
    assert command.help and command.help.strip(), f"{' '.join(path) or 'root'} has no help"
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_option_has_help(path: tuple[str, ...], command: Any) -> None:
    for param in command.params:
        if param.param_type_name == "option":
            assert getattr(param, "help", None), f"{' '.join(path)} {param.opts[0]} has no help"


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_and_option_is_in_the_docs(path: tuple[str, ...], command: Any) -> None:
    text = section(" ".join(path))
    for param in command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        longest = max(param.opts, key=len)
        assert f"`{longest}`" in text, (
            f"docs/cli.md: `chatkit-backend {' '.join(path)}` lacks `{longest}`"
        )


def test_the_readme_links_the_cli_docs() -> None:
    readme = (DOCS.parents[1] / "README.md").read_text()
    assert "(docs/cli.md)" in readme
