"""The error tree: the docstring of ``errors.py`` is the real tree, and one function renders
every error, in the handlers and the middleware alike."""

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import chatkit_backend
from chatkit_backend import errors
from chatkit_backend.errors import (
    BackendError,
    ForbiddenError,
    MethodNotAllowedError,
    NotFoundError,
    RateLimitedError,
    error_for_status,
    render_error,
)

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "chatkit_backend"
TREE_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>\w+) \((?P<status>\d{3}), (?P<code>\w+)\)")


def _import_every_module() -> None:
    for module in pkgutil.walk_packages(chatkit_backend.__path__, "chatkit_backend."):
        if ".migrations." in module.name or module.name.endswith(".__main__"):
            continue
        importlib.import_module(module.name)


def _subclasses(cls: type[BackendError]) -> list[type[BackendError]]:
    found = []
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("chatkit_backend."):
            found.append(sub)
        found.extend(_subclasses(sub))
    return found


def _every_error_class() -> list[type[BackendError]]:
    return [BackendError, *_subclasses(BackendError)]


def _documented_tree() -> dict[str, tuple[int, str, str | None]]:
    """name -> (status, code, parent name) from the docstring's tree."""
    doc = errors.__doc__ or ""
    entries: dict[str, tuple[int, str, str | None]] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = TREE_LINE.match(line.strip("\n")[4:] if line.startswith("    ") else line)
        if not match:
            continue
        depth = len(match["indent"]) // 4
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        entries[match["name"]] = (int(match["status"]), match["code"], parent)
        stack.append((depth, match["name"]))
    return entries


def test_the_documented_tree_is_the_real_tree() -> None:
    _import_every_module()
    documented = _documented_tree()
    real = {
        cls.__name__: (
            cls.status,
            cls.code,
            next((base.__name__ for base in cls.__bases__ if issubclass(base, BackendError)), None),
        )
        for cls in _every_error_class()
    }
    missing = sorted(set(real) - set(documented))
    stale = sorted(set(documented) - set(real))
    assert not missing, f"add these to the tree in errors.py's docstring: {missing}"
    assert not stale, f"the tree in errors.py's docstring names classes that do not exist: {stale}"
    for name, facts in real.items():
        assert documented[name] == facts, f"{name}: documented {documented[name]}, real {facts}"


def test_every_code_names_one_kind_of_failure() -> None:
    _import_every_module()
    by_code: dict[str, set[int]] = {}
    for cls in _every_error_class():
        by_code.setdefault(cls.code, set()).add(cls.status)
    assert {code: statuses for code, statuses in by_code.items() if len(statuses) > 1} == {}


def test_render_error_gives_status_headers_and_the_one_body_shape() -> None:
    rendered = render_error(RateLimitedError("slow down", retry_after=7), "req-1")
    assert rendered.status == 429
    assert json.loads(rendered.body) == {
        "error": {"code": "rate_limited", "message": "slow down", "request_id": "req-1"}
    }
    assert ("retry-after", "7") in rendered.headers
    assert ("content-type", "application/json") in rendered.headers
    assert ("content-length", str(len(rendered.body))) in rendered.headers


@pytest.mark.parametrize(
    ("status", "expected"),
    [(403, ForbiddenError), (404, NotFoundError), (405, MethodNotAllowedError)],
)
def test_framework_statuses_map_to_our_classes(status: int, expected: type[BackendError]) -> None:
    error = error_for_status(status, "m")
    assert type(error) is expected and error.status == status


def test_no_error_body_is_written_by_hand() -> None:
    """Error bodies come from ``render_error`` only: no module builds a ``{"error": {...}}``
    dict literal (the client, which reads such bodies, builds none either)."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "errors.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant)
                and key.value == "error"
                and isinstance(value, ast.Dict)
                for key, value in zip(node.keys, node.values, strict=True)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
