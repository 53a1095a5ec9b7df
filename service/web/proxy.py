"""Who the client is and whether it came over HTTPS: the one place that reads forwarding
headers, believing them only from server.trusted_proxies, and that marks cookies Secure
and sends HSTS over HTTPS."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from ..keys import settings_key

HSTS: Final = "max-age=31536000"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Origin:
    """The client's address and whether its request reached the first proxy over HTTPS."""

    client: str
    https: bool


_ORIGIN: Final = web.RequestKey("linli_origin", Origin)


@cache
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _address(node: str) -> str:
    """An address from a header's node ("[2001:db8::1]:4711", "192.0.2.1:80"), without
    port or brackets; anything that is not an IP address comes back as written."""
    node = node.strip().strip('"')
    if node.startswith("["):
        node = node[1:].partition("]")[0]
    elif node.count(":") == 1:
        node = node.partition(":")[0]
    try:
        ip = ipaddress.ip_address(node)
    except ValueError:
        return node
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _hops(request: web.Request) -> list[tuple[str, str]]:
    """(client address, scheme it used) per proxy hop, the nearest last: from Forwarded
    (parsed by aiohttp), or else from X-Forwarded-For with X-Forwarded-Proto."""
    forwarded: Iterable[Mapping[str, str]] = request.forwarded
    hops = [(_address(f.get("for", "")), f.get("proto", "").lower()) for f in forwarded]
    if hops:
        return hops
    fors = [
        _address(part)
        for line in request.headers.getall(hdrs.X_FORWARDED_FOR, [])
        for part in line.split(",")
        if part.strip()
    ]
    protos = [
        part.strip().lower()
        for line in request.headers.getall(hdrs.X_FORWARDED_PROTO, [])
        for part in line.split(",")
        if part.strip()
    ]
    if not fors:  # a scheme alone: the nearest proxy's word on its client's connection
        return [("", protos[-1])] if protos else []
    if len(protos) != len(fors):
        # One value (or a mismatched list): the nearest proxy's word for every hop.
        protos = [protos[-1] if protos else ""] * len(fors)
    return list(zip(fors, protos, strict=True))


def _resolve(request: web.Request) -> Origin:
    server = request.app[settings_key].server
    trusted = _networks(server.trusted_proxies)
    public_https = server.public_url.startswith("https://")
    peer = _address(request.remote or "unknown")
    client, https = peer, request.secure  # request.secure: TLS on this very connection
    if _trusted(peer, trusted):
        # Walk back from the nearest hop while the hop is one of ours: the first one
        # that is not is the client (a client can write anything further left).
        for addr, proto in reversed(_hops(request)):
            client = addr or client
            https = proto == "https" if proto else https
            if not _trusted(addr, trusted):
                break
    return Origin(client or "unknown", https or public_https)


def origin(request: web.Request) -> Origin:
    """This request's client address and scheme (worked out once per request)."""
    found = request.get(_ORIGIN)
    if found is None:
        found = request[_ORIGIN] = _resolve(request)
    return found


@web.middleware
async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hand the views a request whose `remote` is the client and `scheme` its own."""
    found = origin(request)
    scheme = "https" if found.https else "http"
    if found.client == request.remote and scheme == request.scheme:
        return await handler(request)
    return await handler(request.clone(remote=found.client, scheme=scheme))


async def secure_cookies(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: over HTTPS every cookie is Secure, and HSTS is sent (a hook,
    so that streamed responses and every view's cookies are covered alike)."""
    if not origin(request).https:
        return
    cookies = response.headers.getall(hdrs.SET_COOKIE, [])
    if cookies:
        del response.headers[hdrs.SET_COOKIE]
        for cookie in cookies:
            flags = {part.strip().lower() for part in cookie.split(";")[1:]}
            response.headers.add(
                hdrs.SET_COOKIE, cookie if "secure" in flags else f"{cookie}; Secure"
            )
    response.headers.setdefault(hdrs.STRICT_TRANSPORT_SECURITY, HSTS)
