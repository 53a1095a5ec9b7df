"""Token buckets (a channel's overall rate, a rate per recipient such as a Telegram chat),
and failed-attempt limits per key (sign-in names, client addresses)."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; rate 0 means no limit."""

    def __init__(
        self, rate: float, burst: float | None = None, *, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        # A burst of 1 spaces messages evenly: providers count per second, not per average.
        self.burst = burst if burst is not None else 1.0
        self._tokens = self.burst
        self._now = now
        self._stamp = now()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        current = self._now()
        self._tokens = min(self.burst, self._tokens + (current - self._stamp) * self.rate)
        self._stamp = current

    async def take(self) -> None:
        """Wait until a token is free and take it; callers are served in arrival order."""
        if self.rate <= 0:
            return
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

    def ready(self) -> bool:
        """Whether `take` would return at once (a token free and nobody waiting)."""
        if self.rate <= 0:
            return True
        if self._lock.locked():
            return False
        self._refill()
        return self._tokens >= 1


class KeyedBuckets:
    """One bucket per key (say a chat id), the least recently used forgotten past `size`."""

    def __init__(self, rate: float, *, size: int = 10_000) -> None:
        self.rate = rate
        self.size = size
        # A forgotten key starts again with a full bucket of 1: at worst one extra message.
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def ready(self, key: str | None) -> bool:
        """Whether `take(key)` would return at once."""
        if key is None or self.rate <= 0:
            return True
        bucket = self._buckets.get(key)
        return bucket is None or bucket.ready()

    async def take(self, key: str | None) -> None:
        """Wait for `key`'s bucket (no key, or rate 0, waits for nothing)."""
        if key is None or self.rate <= 0:
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, 1.0)
            if len(self._buckets) > self.size:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        await bucket.take()


@dataclass
class _Failures:
    times: deque[datetime] = field(default_factory=deque)
    pending: int = 0  # attempts reserved and still being tried
    keep: bool = False  # a real account's count: never forgotten while it has failures


class FailureLimit:
    """Failed attempts per key (a sign-in name, a client address) in a sliding window.

    An attempt is reserved before it is tried and settled after, so a burst of N at once
    is counted before any finishes: at most `limit` are tried, the rest refused. After
    `free` failures each further one makes the key wait `delay`, doubled per failure.

    Memory stays near `size` keys without forgetting a lock: past it, the oldest keys that
    are neither refused nor in flight go first, then refused keys not marked `keep`; a
    kept key (a real account) is never forgotten while it has failures, and there are
    only as many of those as there are accounts."""

    def __init__(
        self,
        limit: int,
        window: timedelta,
        *,
        free: int,
        delay: timedelta,
        size: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.free = free
        self.delay = delay
        self.size = size
        self._entries: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def wait(self, key: str, now: datetime) -> timedelta | None:
        """How long `key` must wait before its next attempt; None when it may try now."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._expire(entry, now)
        if len(entry.times) + entry.pending >= self.limit:
            # All reserved and none failed yet: they may still succeed; look again soon.
            return entry.times[0] + self.window - now if entry.times else timedelta(seconds=1)
        extra = len(entry.times) - self.free
        if extra > 0:
            ready = entry.times[-1] + min(self.delay * (1 << (extra - 1)), self.window)
            if ready > now:
                return ready - now
        return None

    def reserve(self, key: str, now: datetime) -> None:
        """Count an attempt on `key` as under way (call `wait` first, with no await between)."""
        entry = self._entries.get(key)
        if entry is None:
            self._make_room(now)
            entry = self._entries[key] = _Failures()
        else:
            self._entries.move_to_end(key)
        entry.pending += 1

    def settle(self, key: str, now: datetime, *, failed: bool, keep: bool = False) -> None:
        """End a reserved attempt: a failure is counted (and kept, for a real account)."""
        entry = self._entries[key]  # an entry with attempts in flight is never forgotten
        entry.pending -= 1
        if failed:
            entry.times.append(now)
            entry.keep = entry.keep or keep

    def clear(self, key: str) -> None:
        """Forget `key`'s failures (a right password), not its attempts in flight."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.times.clear()
            entry.keep = False

    def _expire(self, entry: _Failures, now: datetime) -> None:
        while entry.times and entry.times[0] <= now - self.window:
            entry.times.popleft()

    def _make_room(self, now: datetime) -> None:
        if len(self._entries) < self.size:
            return
        # Evict down to 90% so that a full table is swept once per size/10 new keys.
        target = self.size * 9 // 10
        for evictable in (self._idle, self._unkept):
            for key, entry in list(self._entries.items()):
                if len(self._entries) <= target:
                    return
                self._expire(entry, now)
                if evictable(entry):
                    del self._entries[key]

    def _idle(self, entry: _Failures) -> bool:
        return self._unkept(entry) and len(entry.times) < self.limit

    @staticmethod
    def _unkept(entry: _Failures) -> bool:
        return entry.pending == 0 and not (entry.keep and entry.times)


def address_key(address: str) -> str:
    """The throttle's key for a client address: an IPv4 address as it is, an IPv6 one by
    its /64 (one host is usually given a whole /64), anything else (a proxy's
    obfuscated name) as written."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)
