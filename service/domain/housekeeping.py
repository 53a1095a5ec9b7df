"""Periodic chores of a running server: events that have ended become finished,
confirmed parties that never came are marked no-show, and spent console sessions go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from ..core.clock import Clock
from ..store import Store
from . import checkin, console_auth, events

log = logging.getLogger("linli.housekeeping")

Chore = Callable[[], Awaitable[object]]


async def every(interval_s: float, name: str, chore: Chore) -> None:
    """Run `chore` now and then every `interval_s` seconds until cancelled; a failing run is
    logged and the next one still happens, so one bad row never stops the chores."""
    while True:
        try:
            await chore()
        except Exception:
            log.exception("%s failed; retrying in %.0f s", name, interval_s)
        await asyncio.sleep(interval_s)


async def tidy(store: Store, clock: Clock) -> None:
    """One round of chores."""
    finished = await events.finish_ended_events(store, now=clock())
    if finished:
        log.info("%d ended event(s) marked finished", finished)
    invitations, bookings = await checkin.mark_no_shows(store, now=clock())
    if invitations or bookings:
        log.info("no-shows marked: %d invitation(s), %d booking(s)", invitations, bookings)
    await console_auth.purge_sessions(store, now=clock())


@contextlib.asynccontextmanager
async def in_background(interval_s: float, name: str, chore: Chore) -> AsyncIterator[None]:
    """Run `chore` `every` `interval_s` seconds in a task for as long as the context is open."""
    task = asyncio.create_task(every(interval_s, name, chore), name=f"linli-{name}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running(store: Store, clock: Clock, interval_s: float = 60.0) -> AsyncIterator[None]:
    """Chores in the background for as long as the context is open."""
    async with in_background(interval_s, "housekeeping", lambda: tidy(store, clock)):
        yield
