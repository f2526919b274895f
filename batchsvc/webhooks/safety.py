"""Where webhooks may go: http(s) only, and never to internal addresses (SSRF).

A URL is checked when a job is created (a 422 naming the field) and again, after a fresh DNS
lookup, right before every attempt: the sender then connects to the very address that was
vetted, so a name that re-resolves to an internal address (DNS rebinding) gains nothing.
Cloud metadata endpoints are refused even when private networks are allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.123", "100.100.100.200",
    "192.0.0.192", "fd00:ec2::254")}


class Refused(Exception):
    """A webhook target that must not be contacted; the message names the reason."""


def _unwrap(ip: IPAddress) -> IPAddress:
    # An IPv6 address can carry an IPv4 one (mapped, 6to4, Teredo) that the stack will reach.
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return ip


def address_problem(raw: str, allow_private: bool) -> str | None:
    """Why ``raw`` (an IP address) may not be contacted, or None."""
    ip = _unwrap(ipaddress.ip_address(raw.split("%", 1)[0]))
    if ip in METADATA:
        return f"{ip} is a cloud metadata address"
    if allow_private:
        return None
    for kind, bad in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                      ("private", ip.is_private), ("multicast", ip.is_multicast),
                      ("unspecified", ip.is_unspecified), ("reserved", ip.is_reserved)):
        if bad:
            return f"{ip} is a {kind} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def parse_url(url: object) -> SplitResult:
    """Split an http(s) URL, refusing anything a webhook has no business using."""
    if not isinstance(url, str) or not url.strip():
        raise Refused("must be an http or https URL")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise Refused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise Refused("must use http or https")
    if not parts.hostname:
        raise Refused("must name a host")
    if parts.username is not None or parts.password is not None:
        raise Refused("must not carry credentials; send them in webhook_headers")
    if port == 0:
        raise Refused("must not use port 0")
    return parts


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


def resolve(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address ``host`` resolves to, all vetted; Refused if any one is off limits.

    One bad address refuses the lot: a name that answers both public and internal
    addresses is exactly what a rebinding attack looks like."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"host {host!r} does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        problem = address_problem(address, allow_private)
        if problem:
            raise Refused(f"host {host!r} resolves to {problem}")
    return addresses


def check_url(url: object, allow_private: bool) -> None:
    """The create-time check: raises Refused with the reason."""
    parts = parse_url(url)
    host = parts.hostname or ""
    literal = _literal(host)
    if literal is not None:
        problem = address_problem(literal, allow_private)
        if problem:
            raise Refused(f"targets {problem}")
    elif not allow_private:
        # With private networks allowed every address is acceptable but metadata ones,
        # which no name needs to be resolved to rule out at create time: send time does.
        resolve(host, default_port(parts), allow_private)
