"""The SSRF rules for outbound HTTP to user-supplied URLs: which addresses may be reached,
and a lookup that refuses the rest. Neutral ground: the webhook channel checks each send
with them (channels/ssrf.py wraps them in an aiohttp resolver), and subscriptions check a
URL when it is registered, without either importing the other."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Final

from aiohttp.abc import ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Prefixes whose addresses carry an IPv4 address inside; the embedded one is what a
# translator or tunnel would reach, so it is checked too.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_NAME_FLAGS: Final = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
_ADDRESS_FLAGS: Final = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class DestinationRefusedError(Exception):
    """A URL's host resolves to an address outgoing requests may not reach.

    Deliberately not an OSError: aiohttp would wrap an OSError from a resolver into a
    generic DNS failure (a temporary error), while this one is permanent."""

    def __init__(self, host: str, why: str) -> None:
        super().__init__(f"destination {host} is not allowed: {why}")
        self.host = host
        self.why = why


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse allow-list entries ("10.0.0.0/8", "fd00::/8", "192.168.1.5"); ValueError names
    the first bad one."""
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            # strict=False: "192.168.1.1/24" means the /24, as people write it.
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP network") from None
    return tuple(networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: IPAddress) -> bool:
    # is_global alone is not enough: Python 3.11 calls IPv4 multicast global.
    return not (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def refusal(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why `address` may not be reached ("private address"), or None if it may."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).partition("%")[0])
            candidates = [address]
        if address in _NAT64_LOCAL:
            return "private address"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
    for candidate in candidates:
        if _is_public(candidate):
            continue
        # An allow-list entry may name the address itself or, for an IPv4-mapped
        # address, the IPv4 address it carries.
        if not any(c in net for c in candidates for net in allow if c.version == net.version):
            return "private address"
    return None


async def resolve_checked(
    host: str,
    port: int,
    allow: Sequence[IPNetwork] = (),
    family: int = socket.AF_UNSPEC,
) -> list[ResolveResult]:
    """Resolve `host` and return its addresses, or raise DestinationRefusedError if any
    of them is not global (and not allow-listed) or the name does not resolve.

    The text is never trusted: "2130706433", "0x7f.1" and "::ffff:a9fe:a9fe" decode
    through getaddrinfo like any name and are judged by the address they become."""
    host = host.strip("[]")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        # A canonical literal needs no lookup (the common case of a benchmark sink).
        why = refusal(literal, allow)
        if why is not None:
            raise DestinationRefusedError(host, why)
        fam = socket.AF_INET if literal.version == 4 else socket.AF_INET6
        return [
            ResolveResult(
                hostname=host,
                host=host,
                port=port,
                family=fam,
                proto=socket.IPPROTO_TCP,
                flags=_ADDRESS_FLAGS,
            )
        ]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        # A name that does not resolve now may resolve later: the caller decides.
        raise OSError(f"cannot resolve {host}: {exc}") from None
    results: list[ResolveResult] = []
    for fam, _, proto, _, sockaddr in infos:
        if fam not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        if fam == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3]:
            # A scoped (link-local) address: keep the scope so the connect matches.
            text, _ = await loop.getnameinfo(sockaddr, _NAME_FLAGS)
        address = ipaddress.ip_address(text)
        why = refusal(address, allow)
        if why is not None:
            raise DestinationRefusedError(host, why)
        results.append(
            ResolveResult(
                hostname=host,
                host=text,
                port=int(sockaddr[1]),
                family=fam,
                proto=proto,
                flags=_ADDRESS_FLAGS,
            )
        )
    if not results:
        raise OSError(f"cannot resolve {host}: no IPv4 or IPv6 address")
    return results
