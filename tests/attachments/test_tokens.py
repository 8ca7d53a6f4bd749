"""Upload and preview tokens: signed, scoped to one purpose, attachment and user, expiring."""

import os
import stat
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from chatkit_backend.attachments.tokens import (
    TokenError,
    TokenSigner,
    load_secret,
    persistent_secret,
)
from chatkit_backend.settings import Settings


def test_a_signed_token_verifies_with_its_claims() -> None:
    signer = TokenSigner(b"secret")
    claims = signer.verify(signer.sign("upload", "atc_1", "alice", ttl=60), "upload")
    assert (claims.purpose, claims.attachment_id, claims.user_id) == ("upload", "atc_1", "alice")
    assert claims.expires_at is not None


def test_a_token_from_another_key_is_refused() -> None:
    token = TokenSigner(b"other").sign("upload", "atc_1", "alice", ttl=60)
    with pytest.raises(TokenError, match="bad signature"):
        TokenSigner(b"secret").verify(token, "upload")


def test_a_tampered_payload_is_refused() -> None:
    signer = TokenSigner(b"secret")
    token = signer.sign("upload", "atc_1", "alice", ttl=60)
    forged = TokenSigner(b"secret").sign("upload", "atc_1", "mallory", ttl=60)
    with pytest.raises(TokenError, match="bad signature"):
        signer.verify(forged.split(".")[0] + "." + token.split(".")[1], "upload")


def test_a_token_for_another_purpose_is_refused() -> None:
    signer = TokenSigner(b"secret")
    with pytest.raises(TokenError, match="not a token for 'upload'"):
        signer.verify(signer.sign("preview", "atc_1", "alice"), "upload")


def test_an_expired_token_is_refused() -> None:
    signer = TokenSigner(b"secret")
    token = signer.sign("upload", "atc_1", "alice", ttl=10)
    claims = signer.verify(token, "upload")
    assert claims.expires_at is not None
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token, "upload", now=claims.expires_at)


@pytest.mark.parametrize("token", ["", "nodot", "a.b", "%%%.###", "é.é"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        TokenSigner(b"secret").verify(token, "upload")


def test_the_configured_secret_key_is_used(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=SecretStr("configured"))
    assert load_secret(settings) == b"configured"
    assert not (tmp_path / "secret_key").exists()


def test_without_a_secret_key_a_random_one_is_kept_0600_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_secret(settings)
    assert len(first) >= 32
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(settings) == first
    assert load_secret(Settings(data_dir=tmp_path / "other")) != first


def test_workers_creating_the_key_at_once_agree_on_one(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        keys.append(persistent_secret(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert os.listdir(tmp_path) == ["secret_key"]
