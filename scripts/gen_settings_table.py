"""Write the settings table into README.md between its markers (tests/test_docs.py checks it)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from chatkit_backend.settings import Settings  # noqa: E402

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def default_text(name: str) -> str:
    field = Settings.model_fields[name]
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return value.as_posix() if value.is_absolute() else f"./{value.as_posix()}"
    if isinstance(value, list | dict):
        import json

        return json.dumps(value)
    return str(value)


def table() -> str:
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        variable = "CHATKIT_" + name.upper()
        default = default_text(name)
        shown = f"`{default}`" if default else ""
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{variable}` | {shown} | {description} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    path = ROOT / "README.md"
    path.write_text(render(path.read_text()))
    print(f"wrote {len(Settings.model_fields)} settings to {path}")
