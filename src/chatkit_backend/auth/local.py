"""``CHATKIT_AUTH=none``: every request is the one local user (development only)."""

from starlette.requests import Request

from chatkit_backend.auth.identity import Identity

LOCAL_USER = "local"


class LocalAuth:
    """No credentials; every caller is ``local``. ``serve`` refuses it off loopback."""

    mode = "none"

    def __init__(self, user_id: str = LOCAL_USER) -> None:
        self.identity = Identity(user_id=user_id)

    async def authenticate(self, request: Request) -> Identity:
        return self.identity
