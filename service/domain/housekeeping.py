"""Periodic chores of a running server: events that have ended become finished,
confirmed parties that never came are marked no-show, spent console sessions go, and,
once an hour, what is past its retention ([retention] settings) is purged and, when the
community lets points expire ([passbook] expiry_months), lots past their time lapse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from ..core.clock import Clock
from ..core.points import PassbookSettings
from ..core.retention import FOREVER, RetentionSettings
from ..messages.compose import Composer
from ..store import Store, Tx
from ..store import retention as sql
from . import checkin, console_auth, events, points_expiry, statements

log = logging.getLogger("linli.housekeeping")

Chore = Callable[[], Awaitable[object]]
# Retention's walk reads the old messages' index each time (store/retention.py): hourly
# is soon enough for limits counted in days.
PURGE_EVERY_S: Final = 3600.0


@dataclass(frozen=True)
class Purged:
    """How many of each were purged."""

    message_bodies: int = 0
    attempts: int = 0
    inbound: int = 0
    checkins: int = 0


PurgeStep = Callable[[Tx, datetime, int], Awaitable[int]]


async def _in_batches(store: Store, step: PurgeStep, days: int, now: datetime, batch: int) -> int:
    """Run `step` a batch per transaction until a batch comes back short; how many."""
    if days == FOREVER:
        return 0
    before, total = now - timedelta(days=days), 0
    while True:
        done = await store.write(lambda tx: step(tx, before, batch), memo_safe=True)
        total += done
        if done < batch:
            return total


async def purge_aged(store: Store, retention: RetentionSettings, *, now: datetime) -> Purged:
    """Forget what is older than its retention: message texts (rows, addresses and
    statuses stay for the counts), attempt logs, the log of inbound requests and handled
    mail of the inbox, check-ins."""
    purged = Purged(
        message_bodies=await _in_batches(
            store, sql.blank_bodies, retention.message_bodies_days, now, retention.batch
        ),
        attempts=await _in_batches(
            store, sql.delete_attempts, retention.attempts_days, now, retention.batch
        ),
        inbound=await _in_batches(
            store, sql.delete_seen, retention.inbound_days, now, retention.batch
        )
        # Mail residents sent to the reply address, once an organiser has handled it.
        + await _in_batches(
            store, sql.delete_handled_mail, retention.inbound_days, now, retention.batch
        ),
        checkins=await _in_batches(
            store, sql.delete_checkins, retention.checkins_days, now, retention.batch
        ),
    )
    if purged != Purged():
        log.info("retention purged %s", purged)
    return purged


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
async def running(
    store: Store,
    clock: Clock,
    interval_s: float = 60.0,
    *,
    retention: RetentionSettings | None = None,
    purge_every_s: float = PURGE_EVERY_S,
    passbook: PassbookSettings | None = None,
    composer: Callable[[], Composer] | None = None,
    tz: tzinfo = UTC,
) -> AsyncIterator[None]:
    """Chores in the background for as long as the context is open, and retention's
    purge (and points' expiry, when on) every `purge_every_s` seconds."""
    keep = retention or RetentionSettings()
    expiring = passbook is not None and passbook.expiry_months > 0
    async with contextlib.AsyncExitStack() as chores:
        await chores.enter_async_context(
            in_background(interval_s, "housekeeping", lambda: tidy(store, clock))
        )
        await chores.enter_async_context(
            in_background(purge_every_s, "retention", lambda: purge_aged(store, keep, now=clock()))
        )
        if expiring:
            assert passbook is not None

            async def expire() -> None:
                await points_expiry.lapse_due(store, now=clock())
                if composer is not None:
                    # The notices wait for the delivery side to be up (NotReadyError
                    # before then is logged, and the next round tries again).
                    await points_expiry.notify_expiring(
                        store,
                        composer(),
                        now=clock(),
                        days=passbook.expiry_notice_days,
                        tz=tz,
                    )

            await chores.enter_async_context(in_background(purge_every_s, "points-expiry", expire))
        if passbook is not None and passbook.monthly_statement and composer is not None:
            make_composer = composer
            zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo("UTC")
            done: set[str] = set()

            async def statements_round() -> None:
                # Once a month is sent, later rounds skip it without reading the journal.
                month = statements.last_month(clock(), zone)
                if month in done:
                    return
                _, queued = await statements.send_last_months(
                    store, make_composer(), tz=zone, now=clock()
                )
                if queued:
                    log.info("%d points statement(s) for %s queued", queued, month)
                done.add(month)

            await chores.enter_async_context(
                in_background(purge_every_s, "points-statements", statements_round)
            )
        yield
