"""``CHATKIT_AUTH=header``: a trusted proxy authenticates, then names the user in a header.

The header is believed only when the TCP peer is one of ``CHATKIT_TRUSTED_PROXIES``
(addresses or CIDR ranges); from anywhere else the request is a 401, so a client that
reaches the server directly cannot pick its own user id.
"""

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

from chatkit_backend.auth.credentials import invalid, missing
from chatkit_backend.auth.identity import Identity, id_problem
from chatkit_backend.settings import SettingsError

SCHEME = "TrustedHeader"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: Iterable[str]) -> list[Network]:
    """``["10.0.0.1", "172.16.0.0/12", "::1"]`` as networks; ``SettingsError`` names a bad entry."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"CHATKIT_TRUSTED_PROXIES: {value!r} is not an IP address or CIDR range"
            ) from None
    return networks


def peer_address(request: Request) -> Address | None:
    """The TCP peer's address (an IPv4-mapped IPv6 address as IPv4), or None (unix socket, test client)."""
    if request.client is None:
        return None
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedHeaderAuth:
    """Reads the user (and tenant) from headers set by a proxy at a trusted address."""

    mode = "header"

    def __init__(
        self, user_header: str, trusted_proxies: Iterable[str], tenant_header: str | None = None
    ) -> None:
        self.user_header = user_header
        self.tenant_header = tenant_header
        self.networks = parse_networks(trusted_proxies)
        if not self.networks:
            raise SettingsError(
                "CHATKIT_AUTH=header needs at least one address in CHATKIT_TRUSTED_PROXIES"
            )

    def is_trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def _header_id(self, request: Request, name: str) -> str:
        value = request.headers.get(name)
        if value is None:
            raise missing(
                f"missing credentials: the {name} header was not set by the proxy", scheme=SCHEME
            )
        value = value.strip()
        problem = id_problem(value)
        if problem:
            raise invalid(f"the {name} header {problem}", error="invalid_request", scheme=SCHEME)
        return value

    async def authenticate(self, request: Request) -> Identity:
        if not self.is_trusted(peer_address(request)):
            raise invalid(
                f"the {self.user_header} header is accepted only through the trusted proxy; "
                "this request did not come from it",
                error="invalid_request",
                scheme=SCHEME,
            )
        user = self._header_id(request, self.user_header)
        tenant = self._header_id(request, self.tenant_header) if self.tenant_header else None
        return Identity(user_id=user, tenant_id=tenant)
