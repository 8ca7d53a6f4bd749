"""Docs match the code: every setting is in the README's table, every doc link resolves."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_settings_table  # noqa: E402

from chatkit_backend.settings import Settings  # noqa: E402


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert gen_settings_table.render(readme) == readme, (
        "README settings table is stale: run .venv/bin/python scripts/gen_settings_table.py"
    )


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        assert f"`CHATKIT_{name.upper()}`" in readme
        assert field.description, f"setting {name} has no description"


def test_quickstart_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("```", 2)[1]
    commands = [line for line in section.splitlines()[1:] if line.strip()]
    assert [c.split("#")[0].strip() for c in commands] == ["make run", "make test"]


def test_relative_links_in_docs_resolve() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(((?:docs/|\./|\.\./)?[\w./-]+\.md)\)", doc.read_text()):
            assert (doc.parent / target).resolve().exists(), f"{doc.name} links to missing {target}"
