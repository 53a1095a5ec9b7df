"""The SSRF guard as an aiohttp resolver: the connector gets only the addresses that the
rules in service/core/ssrf.py checked."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult

from service.core.ssrf import IPNetwork, resolve_checked


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that returns only checked addresses, so the connection goes
    to the address that was judged (no DNS rebinding between check and connect)."""

    def __init__(self, allow: Sequence[IPNetwork] = ()) -> None:
        self._allow = tuple(allow)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve and check `host`; raise DestinationRefusedError if refused."""
        return await resolve_checked(host, port, self._allow, family)

    async def close(self) -> None:
        """Nothing to release: lookups go through the event loop."""
