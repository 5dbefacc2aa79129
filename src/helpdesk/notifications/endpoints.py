"""Where browser push may go: the push services' hosts, never the helpdesk's own network.

A push endpoint is a URL the browser hands us, so it is user input the server will POST to. At
subscribe time the URL is checked without DNS (an intranet server may have none for the push
services then); at send time the name is resolved once, every address is checked, and the
connection is made to the checked address, so a DNS change cannot turn an allowed name inward.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointRefused(requests.ConnectionError):
    """An endpoint the helpdesk will not connect to (a private address, a foreign host)."""


def _is_ip_literal(host: str) -> bool:
    """Whether host is an address in any form a resolver accepts (127.1, 0x7f000001, [::1])."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return True
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """host equals a pattern, or is below a `*.suffix` pattern (one label or more)."""
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def _port(parts: SplitResult) -> int | None:
    """The URL's port, or None when it is not a number in range."""
    try:
        return parts.port
    except ValueError:
        return None


def endpoint_problem(url: str, config: Mapping[str, Any]) -> str | None:
    """Why the helpdesk will not push to url, or None; needs no DNS."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    schemes = {"https"} | ({"http"} if config.get("PUSH_ALLOW_HTTP") else set())
    if parts.scheme not in schemes:
        return "not https"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "no host"
    if "@" in parts.netloc:
        return "user information in the URL"
    port = _port(parts)
    if port is None and parts.netloc.rsplit("]", 1)[-1].count(":"):
        return "a port that is not a number"
    if config.get("PUSH_ALLOW_PRIVATE_ENDPOINTS"):
        return None
    if port not in (None, 443):
        return "a port other than 443"
    if _is_ip_literal(host):
        return "an address instead of a host name"
    if not _host_allowed(host, tuple(config.get("PUSH_ALLOWED_HOSTS") or ())):
        return "not a known push service"
    return None


def address_refused(address: IPAddress) -> bool:
    """Whether address is inside some network rather than on the public internet."""
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in (address.ipv4_mapped, address.sixtofour):
            if embedded is not None and address_refused(embedded):
                return True
        if address.teredo is not None:
            return True
    return (
        not address.is_global
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def public_address(host: str, port: int) -> str:
    """Resolve host once; its first address if every address is public, else EndpointRefused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise requests.ConnectionError(f"cannot resolve the push service: {error}") from error
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses or any(address_refused(address) for address in addresses):
        raise EndpointRefused("the push service's name resolves to a private address")
    return str(addresses[0])


class PublicAddressAdapter(HTTPAdapter):
    """Connects only to public addresses: the one checked is the one connected to (TLS still
    verifies the name), so no later lookup can differ from the checked one."""

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        """A pool for the request's checked address, sending SNI and Host for its name."""
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(
            request, True if verify is None else verify, cert
        )
        host = str(host_params["host"])
        scheme = str(host_params["scheme"])
        port = int(host_params.get("port") or (443 if scheme == "https" else 80))
        address = public_address(host, port)
        if scheme == "https":
            tls: dict[str, Any] = {**pool_kwargs, "server_hostname": host, "assert_hostname": host}
        else:
            tls = dict(pool_kwargs)
        return self.poolmanager.connection_from_host(
            address, port=port, scheme=scheme, pool_kwargs=tls
        )

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        """The Host header names the service, not the address the pool connects to."""
        parts = urlsplit(request.url or "")
        host = parts.hostname or ""
        port = _port(parts)
        request.headers["Host"] = host if port in (None, 443) else f"{host}:{port}"


def push_session(config: Mapping[str, Any]) -> requests.Session:
    """A session for push services: no proxies from the environment, no redirects, and (unless
    private endpoints are allowed, for tests) public addresses only."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    if not config.get("PUSH_ALLOW_PRIVATE_ENDPOINTS"):
        adapter = PublicAddressAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return session
