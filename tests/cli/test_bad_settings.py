"""A bad setting is a usage error: every command that reads the settings exits 2 with one
``error:`` line naming the variable, and never prints a secret value.

The commands are found by walking the typer app (as ``test_help.py`` does), so a command
added later is covered without touching this file. Each runs as a user would type it,
with only its required arguments, the bad value in the environment, and no ``.env``.
"""

import os
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import invoke, leaf_commands
from tests.support.live import free_port, run_cli

LEAVES = leaf_commands()

# Commands that read no CHATKIT_* setting (a client of any ChatKit backend), with the
# arguments they run with here: nothing listens at the URL.
IGNORES_SETTINGS: dict[str, list[str]] = {
    "chat": ["--url", f"http://127.0.0.1:{free_port()}", "-m", "hi", "--timeout", "2"],
}
# Required values that "x" would not satisfy (checked before the settings are read).
VALUES = {"--older-than": "30d", "--from": "sqlite:///x", "--to": "sqlite:///to.db"}
# Arguments a command needs beyond its required ones to get as far as reading the settings.
EXTRA_ARGS = {"import hosted": ["--all-users"]}

SECRET_KEY = "sk-live-0123456789abcdef"
BAD_SETTINGS = {
    # an ordinary setting: the message shows the value to fix
    "log-level": ({"CHATKIT_LOG_LEVEL": "loud"}, "CHATKIT_LOG_LEVEL: Input should be", "'loud'"),
    # a secret: the message names the variable and never shows the keys
    "api-keys": (
        {"CHATKIT_API_KEYS": f'{{"{SECRET_KEY}": "alice",}}'},
        "CHATKIT_API_KEYS: ",
        None,
    ),
}


@pytest.fixture(autouse=True)
def no_outer_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CHATKIT_*/OPENAI_* variable from the shell, and a folder without ``.env``."""
    for name in list(os.environ):
        if name.startswith(("CHATKIT_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def required_args(path: tuple[str, ...], command: Any, folder: Path) -> list[str]:
    """The command line with every required argument and option filled in: numbers are 1,
    anything else ``x`` (an empty file in the current folder, for commands that read one)."""
    (folder / "x").write_text("")
    args = list(path)
    for param in command.params:
        if not param.required:
            continue
        annotation = param.type_descriptor.annotation
        value = "1" if annotation in (int, float) else "x"
        if param.param_type_name == "argument":
            args.append(value)
        else:
            option = max(param.opts, key=len)
            args += [option, VALUES.get(option, value)]
    return args


@pytest.mark.parametrize("bad", list(BAD_SETTINGS))
@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_exits_2_naming_the_bad_setting(
    path: tuple[str, ...], command: Any, bad: str, tmp_path: Path
) -> None:
    env, expected, shown = BAD_SETTINGS[bad]
    name = " ".join(path)
    if name in IGNORES_SETTINGS:
        ignoring = invoke(*path, *IGNORES_SETTINGS[name], env=env)
        assert ignoring.exit_code == 1  # nothing listens: the command ran, settings unread
        assert "invalid settings" not in ignoring.stderr
        return
    result = invoke(*required_args(path, command, tmp_path), *EXTRA_ARGS.get(name, []), env=env)

    assert result.exit_code == 2, f"{name}: {result.stdout}{result.stderr}"
    assert result.stderr.startswith("error: invalid settings:\n"), (
        f"{name} stopped before reading the settings: {result.stderr!r}; "
        "give it a valid command line in VALUES or EXTRA_ARGS"
    )
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    if shown is not None:
        assert shown in result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr


def test_the_ignore_list_names_real_commands() -> None:
    assert set(IGNORES_SETTINGS) <= {" ".join(path) for path, _ in LEAVES}


@pytest.mark.parametrize("args", [["db", "current"], ["attachments", "prune"], ["threads", "list"]])
def test_a_user_shell_with_malformed_api_keys_gets_2_and_no_keys(
    args: list[str], tmp_path: Path
) -> None:
    """As reported: 1 from ``db current`` and ``attachments prune``, 2 from ``threads list``."""
    done = run_cli(args, {"CHATKIT_API_KEYS": f"{{{SECRET_KEY}: alice}}"}, cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.startswith("error: invalid settings:\n  CHATKIT_API_KEYS: ")
    assert SECRET_KEY not in done.stderr + done.stdout
    assert done.stdout == ""


def test_a_lower_case_log_level_works(tmp_path: Path) -> None:
    done = run_cli(["db", "current", "--json"], {"CHATKIT_LOG_LEVEL": "info"}, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert '"revision": null' in done.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"CHATKIT_AUTH": "jwt", "CHATKIT_JWT_SECRET": SECRET_KEY},
            "error: CHATKIT_JWT_SECRET: too weak for HS256: ",
        ),
        (
            {"CHATKIT_AUTH": "api-key", "CHATKIT_API_KEYS": f'{{"{SECRET_KEY} x": "alice"}}'},
            "error: CHATKIT_API_KEYS: key #1 is empty or holds whitespace",
        ),
    ],
)
def test_serve_refuses_a_bad_secret_without_showing_it(env: dict[str, str], expected: str) -> None:
    result = invoke("serve", env=env)

    assert result.exit_code == 2
    assert result.stderr.startswith(expected)
    assert SECRET_KEY not in result.stdout + result.stderr
