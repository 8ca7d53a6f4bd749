"""``chatkit-backend serve`` and auth: refusing an open bind without auth, bad keys, no secrets in logs."""

import json
import subprocess
from pathlib import Path

import httpx

from tests.auth.keys import KEY_A, bearer
from tests.support.live import run_cli, run_serve


def serve_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``serve`` expecting it to refuse to start; its output with whitespace folded."""
    result = run_cli(["serve"], env)
    result.stdout = " ".join((result.stdout + result.stderr).split())
    return result


def test_none_mode_refuses_a_non_loopback_address_and_says_why(tmp_path: Path) -> None:
    result = serve_once(
        {"CHATKIT_HOST": "0.0.0.0", "CHATKIT_AUTH": "none", "CHATKIT_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 2
    assert (
        "refusing to listen on 0.0.0.0 with CHATKIT_AUTH=none: anyone who can reach it would act as the "
        "one local user. Set CHATKIT_AUTH (api-key, jwt or header), bind 127.0.0.1, or set "
        "CHATKIT_ALLOW_INSECURE_BIND=true."
    ) in result.stdout
    assert not (tmp_path / "chatkit.db").exists()  # refused before touching the store


def test_none_mode_binds_any_address_when_explicitly_allowed(tmp_path: Path) -> None:
    env = {
        "CHATKIT_HOST": "0.0.0.0",
        "CHATKIT_AUTH": "none",
        "CHATKIT_ALLOW_INSECURE_BIND": "true",
        "CHATKIT_DATA_DIR": str(tmp_path),
        "CHATKIT_DATABASE_URL": "memory://",
    }
    with run_serve(env) as (base, _process):
        response = httpx.post(f"{base}/chatkit", json={"type": "threads.list", "params": {}})
    assert response.status_code == 200


def test_bad_keys_file_stops_serve_naming_the_variable(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text('{"k-0123456789abcdef": ')
    result = serve_once(
        {
            "CHATKIT_AUTH": "api-key",
            "CHATKIT_API_KEYS_FILE": str(keys_file),
            "CHATKIT_DATA_DIR": str(tmp_path),
        }
    )
    assert result.returncode == 2
    assert "error: CHATKIT_API_KEYS_FILE:" in result.stdout
    assert "not valid JSON" in result.stdout
    assert "Traceback" not in result.stdout


def test_api_key_mode_binds_any_address_and_never_logs_keys(tmp_path: Path) -> None:
    wrong_key = "kw-" + "9" * 32
    env = {
        "CHATKIT_HOST": "0.0.0.0",
        "CHATKIT_AUTH": "api-key",
        "CHATKIT_API_KEYS": json.dumps({KEY_A: "alice"}),
        "CHATKIT_DATA_DIR": str(tmp_path),
        "CHATKIT_DATABASE_URL": "memory://",
        "CHATKIT_DEBUG": "true",
        "CHATKIT_LOG_LEVEL": "DEBUG",
    }
    with run_serve(env) as (base, process):
        body = {"type": "threads.list", "params": {}}
        refused = httpx.post(f"{base}/chatkit", json=body, headers=bearer(wrong_key))
        by_header = httpx.post(f"{base}/chatkit", json=body, headers={"X-API-Key": wrong_key})
        allowed = httpx.post(f"{base}/chatkit", json=body, headers=bearer(KEY_A))
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert (refused.status_code, by_header.status_code, allowed.status_code) == (401, 401, 200)
    assert "401 for POST /chatkit from 127.0.0.1: invalid API key" in output
    assert "[redacted]" in output  # the debug request log shows the headers, credentials masked
    assert KEY_A not in output
    assert wrong_key not in output


def test_header_mode_judges_the_tcp_peer_not_x_forwarded_for(tmp_path: Path) -> None:
    """uvicorn rewrites the client address from X-Forwarded-For by default; in header mode
    that would let anyone on 127.0.0.1 claim to be the trusted proxy."""
    env = {
        "CHATKIT_AUTH": "header",
        "CHATKIT_TRUSTED_PROXIES": '["10.0.0.5"]',
        "CHATKIT_DATA_DIR": str(tmp_path),
        "CHATKIT_DATABASE_URL": "memory://",
    }
    body = b'{"type":"threads.list","params":{}}'
    with run_serve(env) as (base_url, _process):
        spoofed = httpx.post(
            f"{base_url}/chatkit",
            content=body,
            headers={"X-Forwarded-For": "10.0.0.5", "X-User-Id": "victim"},
        )
    assert spoofed.status_code == 401
    assert "10.0.0.5" not in spoofed.text
