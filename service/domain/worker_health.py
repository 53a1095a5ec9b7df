"""Whether delivery is keeping up, for /healthz and /metrics: the newest worker heartbeat,
the queue's depth by channel and status, and how long the oldest due message has waited.

A worker beats every few seconds while it runs (delivery/worker.py's upkeep, at most every
half lease); messages due while no worker has beaten within a lease are not going out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.models import Channel, MessageStatus
from ..store import Store
from ..store import dashboard as sql
from ..store import outbox as outbox_sql

# The statuses that make the queue: waiting to be claimed, and claimed but not settled.
WAITING = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)


@dataclass(frozen=True)
class WorkerHealth:
    """The heartbeat and the oldest due message at `now`, and the verdict."""

    beat_age_s: float | None  # None: no worker ever beat on this database
    oldest_due_age_s: float | None  # None: nothing is due
    lease_s: float

    @property
    def stalled(self) -> bool:
        """Messages are due and no worker has beaten within the lease."""
        if self.oldest_due_age_s is None:
            return False
        return self.beat_age_s is None or self.beat_age_s > self.lease_s

    def reason(self) -> str:
        """Why delivery is stalled, in one line for an operator."""
        silent = (
            "no worker has ever beaten"
            if self.beat_age_s is None
            else f"no worker has beaten for {self.beat_age_s:.0f} s"
        )
        return (
            f"messages have been due for {self.oldest_due_age_s or 0:.0f} s and {silent}"
            f" (the lease is {self.lease_s:g} s): is `linli worker` or"
            " delivery.run_in_server running?"
        )


@dataclass(frozen=True)
class QueueFigures:
    """What /metrics shows of delivery at `now`."""

    beat_age_s: float | None
    waiting: dict[tuple[str, str], int]  # (channel, status) → messages, every pair present
    oldest_due_age_s: dict[str, float]  # channel → seconds; 0 when nothing is due


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


async def _oldest_due(store: Store, now: datetime) -> dict[str, float]:
    """Seconds each channel's oldest due message has waited (channels with one due)."""
    firsts = await sql.first_queued_by_channel(store.reader)
    return {ch: (now - at).total_seconds() for ch, at in firsts.items() if at <= now}


async def worker_health(store: Store, now: datetime, lease_s: float) -> WorkerHealth:
    """The heartbeat's age and the oldest due message's: a handful of index seeks."""
    due = await _oldest_due(store, now)
    return WorkerHealth(
        beat_age_s=_age(now, await outbox_sql.last_beat(store.reader)),
        oldest_due_age_s=max(due.values()) if due else None,
        lease_s=lease_s,
    )


async def queue_figures(store: Store, now: datetime) -> QueueFigures:
    """The heartbeat's age, the queue by channel and status, the oldest due per channel."""
    counts = await sql.waiting_by_channel(store.reader)
    due = await _oldest_due(store, now)
    return QueueFigures(
        beat_age_s=_age(now, await outbox_sql.last_beat(store.reader)),
        waiting={(ch.value, st): counts.get((ch.value, st), 0) for ch in Channel for st in WAITING},
        oldest_due_age_s={ch.value: due.get(ch.value, 0.0) for ch in Channel},
    )
