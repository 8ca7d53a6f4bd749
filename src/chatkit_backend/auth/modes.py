"""Picking the auth mode of ``CHATKIT_AUTH``.

Only the chosen mode's module is imported: ``jwt`` mode's brings pyjwt and cryptography
(about 0.1 s at start), which the other modes never pay for.
"""

from typing import assert_never

from chatkit_backend.auth.api_keys import ApiKeyAuth
from chatkit_backend.auth.identity import Authenticator
from chatkit_backend.auth.local import LocalAuth
from chatkit_backend.auth.proxy_header import TrustedHeaderAuth
from chatkit_backend.settings import Settings


def authenticator_from_settings(settings: Settings) -> Authenticator:
    """The configured mode, its keys loaded and checked; ``SettingsError`` says what is wrong."""
    mode = settings.auth
    if mode == "none":
        return LocalAuth()
    if mode == "api-key":
        return ApiKeyAuth(settings.api_keys, settings.api_keys_file)
    if mode == "jwt":
        from chatkit_backend.auth.jwt_tokens import JwtAuth

        return JwtAuth(settings)
    if mode == "header":
        return TrustedHeaderAuth(
            settings.user_header, settings.trusted_proxies, settings.tenant_header
        )
    assert_never(mode)


def check_auth_settings(settings: Settings) -> None:
    """Load the auth mode once, so ``serve`` reports a bad key file before it starts workers."""
    authenticator_from_settings(settings)
