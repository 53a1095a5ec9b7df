"""What the console's dashboard shows: upcoming events with their answers, today's room
bookings, and whether delivery is healthy (the worker running, no channel failing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from ..core.models import Event, EventStatus
from ..store import Store
from ..store import bookings as booking_sql
from ..store import dashboard as sql
from ..store import events as event_sql
from ..store import outbox as outbox_sql
from ..store.bookings import Booking
from . import rsvp
from .rsvp import AnswerCounts

# The worker beats every poll (well under a second); a minute of silence means it is not
# running, or is stuck.
WORKER_SILENT: Final = timedelta(minutes=1)
# A channel "keeps failing" when its last FAILING_RUN attempts in the last hour all failed.
FAILING_RUN: Final = 5
FAILING_WINDOW: Final = timedelta(hours=1)
HEALTH_WINDOW: Final = timedelta(hours=24)
UPCOMING: Final = 10


@dataclass(frozen=True)
class FailingChannel:
    """A channel whose recent attempts all failed, and the last error."""

    channel: str
    failures: int
    last_error: str


@dataclass(frozen=True)
class Overview:
    """Everything on the dashboard."""

    events: tuple[Event, ...]
    counts: dict[int, AnswerCounts]
    bookings: tuple[Booking, ...]
    room_names: dict[int, str]
    statuses: dict[str, int]
    queued_now: int
    worker_beat: datetime | None
    worker_silent: bool
    failing: tuple[FailingChannel, ...]


def failing_channels(attempts: list[sql.RecentAttempt]) -> tuple[FailingChannel, ...]:
    """Channels whose newest FAILING_RUN attempts (newest first in `attempts`) all failed."""
    runs: dict[str, list[sql.RecentAttempt]] = {}
    for attempt in attempts:
        run = runs.setdefault(attempt.channel, [])
        if len(run) < FAILING_RUN:
            run.append(attempt)
    return tuple(
        FailingChannel(channel, len(run), run[0].error or run[0].outcome)
        for channel, run in sorted(runs.items())
        if len(run) == FAILING_RUN and all(a.outcome in ("temporary", "permanent") for a in run)
    )


async def overview(store: Store, now: datetime, tz: ZoneInfo) -> Overview:
    """The dashboard at `now`, with "today" in the community's time zone."""
    db = store.reader
    events, _ = await event_sql.search_events(
        db,
        statuses=(EventStatus.PUBLISHED, EventStatus.DRAFT),
        starts_from=now,
        starts_before=None,
        limit=UPCOMING,
        offset=0,
    )
    today = now.astimezone(tz).date()
    day_start = datetime.combine(today, time(0), tz)
    bookings, _ = await booking_sql.list_bookings(
        db, after=day_start, before=day_start + timedelta(days=1)
    )
    live = tuple(b for b in bookings if b.status in ("confirmed", "pending"))
    beat = await outbox_sql.last_beat(db)
    attempts = await sql.recent_attempts(db, now - FAILING_WINDOW)
    return Overview(
        events=tuple(events),
        counts=await rsvp.answer_counts(store, [e.id for e in events]),
        bookings=live,
        room_names=await sql.room_names(db),
        statuses=await sql.messages_by_status(db, now - HEALTH_WINDOW),
        queued_now=await sql.queued_now(db),
        worker_beat=beat,
        worker_silent=beat is None or now - beat > WORKER_SILENT,
        failing=failing_channels(attempts),
    )
