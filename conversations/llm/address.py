"""Which network addresses a provider may be reached at (the SSRF policy).

Three kinds of address:

- **refused**, always: link-local (169.254.0.0/16, fe80::/10, where clouds
  serve instance metadata and credentials), known metadata addresses
  (fd00:ec2::254, 100.100.100.200), unspecified (0.0.0.0/8, ::), multicast,
  broadcast and reserved ranges. No provider is ever there, and a request
  to them can leak the server's cloud credentials.
- **local**: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) and
  every other range that is not globally routable. Allowed only for a
  provider with the "local network" permission (Ollama or vLLM on the LAN).
- **public**: everything else.

The check runs on every address the client actually connects to (see
``transport``), so a DNS name that resolves, or later re-resolves, to a
refused address is caught too. IPv4 addresses embedded in IPv6 ones
(``::ffff:169.254.169.254``, NAT64 ``64:ff9b::/96``) are judged as IPv4.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

Kind = Literal["public", "local", "refused"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = {
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6 instance metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud metadata
}
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
# Names that resolve to this machine by convention (RFC 6761), checked as
# text so a form can refuse them before any lookup.
LOCAL_NAMES = ("localhost", "localhost.localdomain")


class AddressRefused(OSError):
    """A connection to ``address`` is not allowed; raised where sockets are made."""

    def __init__(self, host: str, address: str, kind: Kind) -> None:
        self.host, self.address, self.kind = host, address, kind
        why = "never allowed" if kind == "refused" else "a local network address"
        shown = address if host == address else f"{host} ({address})"
        super().__init__(f"The provider address {shown} is {why}.")


def classify(address: str | IPAddress) -> Kind:
    ip = _embedded_ipv4(ipaddress.ip_address(address))
    if ip.is_loopback:  # before the reserved ranges, which hold ::1
        return "local"
    if ip in METADATA_ADDRESSES or _never_routed(ip):
        return "refused"
    return "public" if ip.is_global else "local"


def allowed(kind: Kind, allow_local: bool) -> bool:
    return kind == "public" or (kind == "local" and allow_local)


def check(host: str, address: str, allow_local: bool) -> None:
    """Raise ``AddressRefused`` unless connecting to ``address`` is allowed."""
    kind = classify(address)
    if not allowed(kind, allow_local):
        raise AddressRefused(host, address, kind)


def url_kind(url: str) -> Kind | None:
    """What the host written in ``url`` is, when the text alone says (else None).

    An IP literal or a name like ``localhost`` says; other names only say
    once resolved, which the transport checks on connecting.
    """
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    except ValueError:  # a malformed IPv6 literal: the URL validator says so
        return None
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return "local"
    try:
        return classify(host)
    except ValueError:
        return None


def check_url(url: str, allow_local: bool) -> None:
    """Raise ``AddressRefused`` when the URL's own text names a forbidden host."""
    kind = url_kind(url)
    if kind is not None and not allowed(kind, allow_local):
        host = urlsplit(url.strip()).hostname or ""
        raise AddressRefused(host, host, kind)


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in NAT64_PREFIX:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _never_routed(ip: IPAddress) -> bool:
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return True
    if isinstance(ip, ipaddress.IPv4Address):
        return ip in ipaddress.IPv4Network("0.0.0.0/8") or ip == ipaddress.IPv4Address(
            "255.255.255.255"
        )
    return False
