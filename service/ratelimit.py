"""Token buckets: a channel's overall rate, and a rate per recipient (a Telegram chat)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable


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


class KeyedBuckets:
    """One bucket per key (say a chat id), the least recently used forgotten past `size`."""

    def __init__(self, rate: float, *, size: int = 10_000) -> None:
        self.rate = rate
        self.size = size
        # A forgotten key starts again with a full bucket of 1: at worst one extra message.
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

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
