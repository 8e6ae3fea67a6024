"""Which hosts a tenant-chosen URL may reach (SSRF): public addresses only, unless the operator allows more.

A URL is checked twice. When it is saved, every spelling of an address literal is refused if it names a
loopback, private, link-local, multicast, unspecified, shared (CGNAT) or unique-local address; a hostname
passes, because DNS can change at any time. When a call is made, the hostname is resolved, every answer is
checked, and the connection goes to an answer that passed (see outbound/http.py), so a name that re-binds
to 127.0.0.1 after it was saved is still refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import SplitResult, quote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses to try, in order (a function so tests can script DNS answers).
Resolver = Callable[[str, int], list[str]]

MAX_URL = 2000
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class RefusedURL(ValueError):
    """A URL this server will not call; the message says why and is safe to show the tenant."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def _inet_aton_part(text: str) -> int | None:
    """One dotted part as inet_aton reads it: 0x.. hexadecimal, a leading 0 octal, otherwise decimal."""
    try:
        if text[:2].lower() == "0x":
            return int(text[2:] or "0", 16)
        if len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text, 10) if text.isdigit() else None
    except ValueError:
        return None


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address the C library would connect to for `127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1` …

    Python's ipaddress accepts only the dotted-quad form, but getaddrinfo and most HTTP clients still take
    the 1-, 2- and 3-part and hex/octal forms, so they must be read the same way before checking.
    """
    parts = host.split(".")
    if any(not p for p in parts):
        return None
    numbers = [_inet_aton_part(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    if len(parts) > 4:
        raise RefusedURL(f"{host!r} is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 1 << (8 * (5 - len(values))):
        raise RefusedURL(f"{host!r} is not a valid IPv4 address")
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def address_literal(host: str) -> IPAddress | None:
    """The address a host names directly (any spelling), or None for a hostname."""
    bare = host[:-1] if host.endswith(".") else host
    if ":" in bare:
        try:
            return ipaddress.IPv6Address(bare.split("%", 1)[0])
        except ValueError as exc:
            raise RefusedURL(f"{host!r} is not a valid IPv6 address") from exc
    return legacy_ipv4(bare)


def why_disallowed(address: IPAddress) -> str | None:
    """The kind of non-public address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return why_disallowed(mapped)
    checks: list[tuple[bool, str]] = [
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "shared (CGNAT)"),
        (isinstance(address, ipaddress.IPv6Address) and address in ipaddress.IPv6Network("fc00::/7"), "unique-local"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-public"),
    ]
    return next((name for hit, name in checks if hit), None)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses, plus what the operator listed in WASESSION_OUTBOUND_ALLOW (hosts and CIDRs)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def parse(cls, setting: str | Iterable[str] | None) -> AddressPolicy:
        items = setting.split(",") if isinstance(setting, str) else list(setting or ())
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in items:
            item = raw.strip().lower()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError as exc:
                if not all(c.isalnum() or c in "-._" for c in item):
                    raise ValueError(
                        f"WASESSION_OUTBOUND_ALLOW: {raw.strip()!r} is neither a host name nor a CIDR"
                    ) from exc
                hosts.add(item.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def refusal(self, address: IPAddress) -> str | None:
        """Why a call to this address is refused, or None if it may be made."""
        if any(address.version == n.version and address in n for n in self.networks):
            return None
        return why_disallowed(address)


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect and what to say in the request line and Host header."""

    scheme: str
    host: str  # the hostname (or address literal) as the URL spells it, lower-case
    port: int
    path: str  # path and query, never empty
    literal: IPAddress | None  # set when the URL names an address directly

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str, policy: AddressPolicy) -> Target:
    """Parse a tenant's URL and refuse what this server must never call; raises RefusedURL saying why."""
    if len(url) > MAX_URL:
        raise RefusedURL(f"url must be at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
        raise RefusedURL("url may not contain spaces, control characters or backslashes")
    parts: SplitResult = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RefusedURL(f"url must start with http:// or https://; got {url[:100]!r}")
    if "@" in parts.netloc:
        raise RefusedURL("url may not contain a user name or password (user@host)")
    host = (parts.hostname or "").lower()
    if not host:
        raise RefusedURL(f"url must name a host; got {url[:100]!r}")
    if not host.isascii():
        try:  # what DNS and the Host header will carry
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise RefusedURL(f"url has a host name that is not valid; got {url[:100]!r}") from exc
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedURL(f"url has an invalid port; got {url[:100]!r}") from exc
    literal = address_literal(host)
    if not policy.allows_host(host):
        if literal is not None:
            reason = policy.refusal(literal)
            if reason is not None:
                raise RefusedURL(
                    f"url may not point at {host} ({reason} address {literal}); only public addresses are "
                    "allowed unless the operator lists them in WASESSION_OUTBOUND_ALLOW"
                )
        elif host.rstrip(".") in _LOCAL_NAMES or host.rstrip(".").endswith(".localhost"):
            raise RefusedURL(f"url may not point at {host!r}, which names this machine")
    # Percent-encoded as sent; characters already safe (and existing %xx escapes) are kept as given.
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Target(parts.scheme, host, port, path, literal)


def resolve_checked(target: Target, policy: AddressPolicy, resolver: Resolver) -> list[IPAddress]:
    """The addresses to connect to; RefusedURL if any answer is disallowed (a name is only as safe as its
    worst answer: the client may try any of them, and a rebinding attacker controls the order)."""
    if target.literal is not None:
        answers: list[IPAddress] = [target.literal]
    else:
        answers = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(target.host, target.port)]
    if policy.allows_host(target.host):
        return answers
    for address in answers:
        reason = policy.refusal(address)
        if reason is not None:
            raise RefusedURL(f"{target.host} resolves to {address}, a {reason} address")
    return answers
