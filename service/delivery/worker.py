"""The delivery worker: the only bridge from the outbox to the channels.

Each channel name gets its own lane — a claimer that leases due messages of that channel
and a pool of senders limited by the channel's concurrency and token bucket — so a slow
or rate-limited channel never holds up the others. Within a lane, a message whose key
(a Telegram chat) is at its own rate waits in that key's line, sent by the key's own
task as the key's rate allows, so one busy chat never holds up the others. Delivery is
at-least-once: a message is leased before it is sent and settled after, and a lease left
by a dead worker is reclaimed once it lapses (at once when the claimer is a process on
this machine that is gone: claimer.py), so a crash can repeat a send but never lose one.
Every attempt of a message carries the message's one id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Final, Protocol

from prometheus_client import Counter, Histogram

from channels.base import (
    ChannelFailure,
    OutboundMessage,
    PermanentFailure,
    Receipt,
    TemporaryFailure,
)
from channels.registry import Route, distinct_channels

from ..core.clock import Clock
from ..core.metrics import Metrics
from ..core.models import Message, MessageStatus
from ..messages.compose import Composer, sendable
from ..settings import DeliverySettings
from ..store import Store, Tx
from ..store import chat_groups as chat_group_sql
from ..store import outbox as sql
from ..store import recipients as recipients_sql
from ..store import subscriptions as subscription_sql
from ..store.outbox import NewMessage
from .claimer import is_gone, this_worker
from .fallback import fallback
from .ratelimit import KeyedBuckets, TokenBucket

log = logging.getLogger("linli.worker")
# Outcomes that settle a message by themselves: no retry or fallback to plan.
_FINAL: Final = frozenset(
    (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.EXPIRED, MessageStatus.SUPPRESSED)
)
# How long the recorder lets results gather before writing them.
_RECORD_GATHER_S: Final = 0.01
# How long a woken claim loop waits for more wake-ups before it claims (see _claim_loop).
_WAKE_GATHER_S: Final = 0.02
# Claimed messages a lane holds in memory: at most this many per sender, and in all.
_ROOM_PER_SENDER: Final = 16
_ROOM_MAX: Final = 256
# A message is sent only with this share of its lease still ahead: a send may take the
# channel's whole timeout, and a lease lapsing meanwhile would have it sent again.
_LEASE_LEFT: Final = 0.25
# A message put back unsent, its key's line being full (see _wait_in_line).
_DEFERRED: Final = "deferred"
# When a result whose next step could not be planned is tried again.
_REPLAN_DELAY: Final = timedelta(minutes=1)


@dataclass
class _Lane:
    name: str
    route: Route
    bucket: TokenBucket
    per_key: KeyedBuckets
    queue: asyncio.Queue[_Claimed]
    # Set by a sender that takes the queue down to half: time to claim a batch.
    hungry: asyncio.Event
    # Sends in flight, by the senders and the keys' tasks together.
    sending: asyncio.Semaphore
    # Messages waiting for their key's rate, by key, each key's line sent by one task.
    waiting: dict[str, deque[tuple[_Claimed, OutboundMessage]]] = field(default_factory=dict)
    lines: set[asyncio.Task[None]] = field(default_factory=set)


class _Target(Protocol):
    """Where a message goes, as it stood when claimed: a resident's contact (recipients.Reach)
    or an integrator's subscription (subscriptions.Target)."""

    @property
    def opted_out(self) -> bool: ...

    @property
    def disabled(self) -> bool: ...

    @property
    def secrets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class _Claimed:
    """A leased message, where it goes as that stood when claimed (None: gone), and when
    its lease ends."""

    message: Message
    target: _Target | None
    lease_until: datetime


@dataclass(frozen=True)
class _Result:
    """What one attempt came to, ready to be written."""

    # sent, delivered, temporary, permanent; expired, suppressed, deferred (not tried)
    outcome: str
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None
    address_gone: bool = False


@dataclass(frozen=True)
class _Done:
    """A finished attempt (or a message settled without one), waiting to be written."""

    message: Message
    result: _Result
    at: datetime
    duration_ms: int | None


class Worker:
    """Claims due messages, sends them through their channel and records every attempt."""

    def __init__(
        self,
        store: Store,
        composer: Composer,
        routes: dict[str, Route],
        settings: DeliverySettings,
        clock: Clock,
        *,
        name: str = "worker",
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.composer = composer
        self.settings = settings
        self.clock = clock
        self.name = name
        self.metrics = metrics
        self.rng = rng or random.Random()
        # Written beside each lease, so that a restart can tell its dead predecessor's.
        self.claimer = str(this_worker())
        self._wake = asyncio.Event()
        self._children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        # Senders hand results to one recorder that writes them in batches, so a sender
        # moves on to its next message without waiting for a commit.
        self._done: asyncio.Queue[_Done] = asyncio.Queue()
        self.lanes = [
            _Lane(
                channel_name,
                route,
                TokenBucket(route.rate_per_s),
                KeyedBuckets(route.per_key_per_s),
                asyncio.Queue(maxsize=self._room(route)),
                asyncio.Event(),
                asyncio.Semaphore(route.concurrency),
            )
            for channel_name, route in sorted(routes.items())
        ]

    def _room(self, route: Route) -> int:
        """How many claimed messages a lane holds: two per sender at least, more for a fast
        channel so that claims come in big batches, but never more than a rate-limited
        channel sends in a quarter of a lease (a message must not sit out its lease), and
        _ROOM_PER_SENDER a sender (an SMTP server taking 1.5 s a message kept 64 of 256
        waiting past a 60 s lease: they were reclaimed and sent twice)."""
        room = max(2 * route.concurrency, min(_ROOM_MAX, _ROOM_PER_SENDER * route.concurrency))
        if route.rate_per_s > 0:
            room = min(room, int(route.rate_per_s * self.settings.lease_s / 4))
        return max(room, 2 * route.concurrency, 1)

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll (new messages were queued);
        the store calls it after each commit that made messages due (see Delivery)."""
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled."""
        for channel in distinct_channels({lane.name: lane.route for lane in self.lanes}):
            await channel.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            reclaimed = await self.store.write(
                lambda tx: sql.reclaim_expired_leases(tx, self.clock())
            )
            if reclaimed:
                log.info("reclaimed %d message(s) whose lease had lapsed", reclaimed)
            await self._take_back_from_the_dead()
            for lane in self.lanes:
                tasks.append(asyncio.create_task(self._claim_loop(lane), name=f"claim-{lane.name}"))
                for n in range(lane.route.concurrency):
                    tasks.append(
                        asyncio.create_task(self._send_loop(lane), name=f"send-{lane.name}-{n}")
                    )
            tasks.append(asyncio.create_task(self._upkeep_loop(), name="worker-upkeep"))
            tasks.append(asyncio.create_task(self._record_loop(), name="worker-recorder"))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks + [t for lane in self.lanes for t in lane.lines]:
                task.cancel()
            await asyncio.gather(
                *tasks, *(t for lane in self.lanes for t in lane.lines), return_exceptions=True
            )
            # What was sent is written down before stopping, so a clean stop repeats nothing.
            with contextlib.suppress(Exception):
                await self._record(self._drain())
            for channel in distinct_channels({lane.name: lane.route for lane in self.lanes}):
                with contextlib.suppress(Exception):
                    await channel.close()

    async def _upkeep_loop(self) -> None:
        # Reclaim leases of workers that died, and say this one is alive.
        while True:
            try:
                now = self.clock()

                async def upkeep(tx: Tx, now: datetime = now) -> int:
                    await sql.beat(tx, self.name, now)
                    return await sql.reclaim_expired_leases(tx, now)

                # Reclaimed messages wake the claim loops through the store (sql.OUTBOX).
                await self.store.write(upkeep)
                await self._take_back_from_the_dead()
            except Exception:
                log.exception("worker upkeep failed")
            await asyncio.sleep(min(self.settings.lease_s / 2, 10.0))

    async def _take_back_from_the_dead(self) -> None:
        """Queue again at once the messages leased by workers known to be dead (a previous
        incarnation SIGKILLed mid fan-out), rather than after their leases (claimer.py)."""
        holders = await sql.claimers(self.store.reader)
        gone = [holder for holder in holders if holder != self.claimer and is_gone(holder)]
        if not gone:
            return
        now = self.clock()
        taken = await self.store.write(partial(sql.reclaim_claims_of, gone=gone, now=now))
        if taken:
            log.info("took back %d message(s) leased by a worker that is gone", taken)

    async def _claim_loop(self, lane: _Lane) -> None:
        # The lane's queue holds about two messages per sender: enough to keep them busy, few
        # enough that a claimed message never waits in memory anywhere near its lease.
        while True:
            if lane.queue.qsize() > lane.queue.maxsize // 2:
                # Claim in batches, not a few messages each time a sender frees a slot: a
                # claim is a commit, and an email's took longer than sending it.
                lane.hungry.clear()
                await lane.hungry.wait()
            claimed: list[Message] = []
            contacts: dict[int, recipients_sql.Reach] = {}
            hooks: dict[int, subscription_sql.Target] = {}
            groups: dict[int, chat_group_sql.Target] = {}
            free = max(1, min(lane.queue.maxsize - lane.queue.qsize(), self.settings.claim_batch))
            try:
                now = self.clock()
                lease = now + timedelta(seconds=self.settings.lease_s)
                claimed = await self.store.write(
                    partial(
                        sql.claim_due,
                        channel=lane.name,
                        now=now,
                        lease_until=lease,
                        limit=free,
                        claimer=self.claimer,
                    )
                )
                contacts = await recipients_sql.contacts_by_id(
                    self.store.reader, [m.contact_id for m in claimed if m.contact_id], now
                )
                hooks = await subscription_sql.targets(
                    self.store.reader,
                    [m.subscription_id for m in claimed if m.subscription_id],
                    now,
                )
                groups = await chat_group_sql.targets(
                    self.store.reader, [m.chat_group_id for m in claimed if m.chat_group_id]
                )
            except Exception:
                log.exception("claiming %s messages failed", lane.name)
                claimed, contacts, hooks, groups = [], {}, {}, {}
            for message in claimed:
                target: _Target | None = None
                if message.contact_id:
                    target = contacts.get(message.contact_id)
                elif message.subscription_id:
                    target = hooks.get(message.subscription_id)
                elif message.chat_group_id:
                    target = groups.get(message.chat_group_id)
                # Waits while senders are busy.
                await lane.queue.put(_Claimed(message, target, lease))
            if claimed and len(claimed) == free:
                continue  # more may be due
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)
                # Under a flood of answers every request wakes the worker; gathering the
                # wake-ups of a short while into one claim keeps empty claims from taking
                # the writer's time (at 5,000 answers/s they were a tenth of its jobs).
                await asyncio.sleep(_WAKE_GATHER_S)

    async def _send_loop(self, lane: _Lane) -> None:
        while True:
            claimed = await lane.queue.get()
            if lane.queue.qsize() <= lane.queue.maxsize // 2:
                lane.hungry.set()
            try:
                await self.deliver(lane, claimed)
            except Exception:
                # A bug here must not stop the lane; the lease brings the message back.
                log.exception("delivering message %s failed", claimed.message.uid)

    async def deliver(self, lane: _Lane, claimed: _Claimed) -> None:
        """Send one leased message and hand what happened to the recorder."""
        message, contact = claimed.message, claimed.target
        if not self._still_due(claimed):
            return
        # A reply still reaches an opted-out address: it confirms the opt-out itself.
        opted_out = contact is not None and contact.opted_out and message.kind != "reply"
        if contact is None or opted_out or contact.disabled:
            reason = "address opted out" if opted_out else "address unusable"
            self._finish(message, _Result(MessageStatus.SUPPRESSED, error=reason), None)
            return
        outbound = OutboundMessage(
            id=message.uid,
            channel=message.channel,
            address=message.address,
            kind=message.kind,
            language=message.language,
            subject=message.subject,
            text=message.body_text,
            html=message.body_html,
            extra=sendable(message.extra),
            secrets=contact.secrets,
            attempt=message.attempts,
        )
        if lane.per_key.rate > 0:
            key = lane.route.channel.rate_key(outbound)
            if key is not None and (key in lane.waiting or not lane.per_key.ready(key)):
                self._wait_in_line(lane, key, claimed, outbound)
                return
            await lane.per_key.take(key)  # ready: returns at once
        await self._send(lane, claimed, outbound)

    async def _send(self, lane: _Lane, claimed: _Claimed, outbound: OutboundMessage) -> None:
        async with lane.sending:
            # Only a limited lane waits (most run unlimited: a call per message saved).
            if lane.bucket.rate > 0:
                await lane.bucket.take()
                if not self._still_due(claimed):  # the wait may have outlasted the lease
                    return
            started = time.monotonic()
            result = await self._attempt(lane.route.channel.send, outbound)
            elapsed = time.monotonic() - started
        if self.metrics is not None:
            self._count(lane.name, result.outcome, elapsed)
        self._finish(claimed.message, result, int(elapsed * 1000))

    def _wait_in_line(
        self, lane: _Lane, key: str, claimed: _Claimed, outbound: OutboundMessage
    ) -> None:
        """Put a message in its key's line, the sender going on with the lane's next one."""
        line = lane.waiting.get(key)
        if line is None:
            line = lane.waiting[key] = deque()
            task = asyncio.create_task(self._line_loop(lane, key, line), name=f"line-{lane.name}")
            lane.lines.add(task)
            task.add_done_callback(lane.lines.discard)
        # A key sends only so many within the usable part of a lease (lines are outside the
        # lane's room, so this bounds them); the rest go back to the queue, due when the
        # line ahead of them will have gone, rather than sit out their lease here.
        usable = self.settings.lease_s * (1 - _LEASE_LEFT) * lane.per_key.rate
        if len(line) >= max(1, int(usable)):
            later = _Result(_DEFERRED, retry_after=len(line) / lane.per_key.rate)
            self._finish(claimed.message, later, None)
            return
        line.append((claimed, outbound))

    async def _line_loop(
        self, lane: _Lane, key: str, line: deque[tuple[_Claimed, OutboundMessage]]
    ) -> None:
        # Sends a key's line in order at the key's rate, then ends (the next message for the
        # key that has to wait starts a new line).
        try:
            while line:
                await lane.per_key.take(key)
                claimed, outbound = line.popleft()
                if not self._still_due(claimed):
                    continue
                try:
                    await self._send(lane, claimed, outbound)
                except Exception:
                    log.exception("delivering message %s failed", claimed.message.uid)
        finally:
            if lane.waiting.get(key) is line:
                del lane.waiting[key]

    def _still_due(self, claimed: _Claimed) -> bool:
        """False, having dealt with it, for a message past its expiry (settled expired) or
        too near the end of its lease (left alone: the lease lapses, and it is claimed
        and sent again, once, rather than maybe twice)."""
        message = claimed.message
        now = self.clock()
        if message.expires_at is not None and message.expires_at <= now:
            self._finish(
                message, _Result(MessageStatus.EXPIRED, error="expired before sending"), None
            )
            return False
        left = (claimed.lease_until - now).total_seconds()
        if left < self.settings.lease_s * _LEASE_LEFT:
            log.debug("message %s left unsent: its lease is nearly over", message.uid)
            return False
        return True

    def _count(self, lane: str, outcome: str, elapsed: float) -> None:
        """Count an attempt and its time in the metrics (whose labelled children are kept:
        looking them up took more than the rest of the bookkeeping of a send)."""
        assert self.metrics is not None
        key = (lane, outcome)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.metrics.deliveries.labels(lane, outcome),
                self.metrics.send_seconds.labels(lane),
            )
        children[0].inc()
        children[1].observe(elapsed)

    def _finish(self, message: Message, result: _Result, duration_ms: int | None) -> None:
        self._done.put_nowait(_Done(message, result, self.clock(), duration_ms))

    def _drain(self, limit: int = 1000) -> list[_Done]:
        batch: list[_Done] = []
        while len(batch) < limit and not self._done.empty():
            batch.append(self._done.get_nowait())
        return batch

    async def _record_loop(self) -> None:
        while True:
            first = await self._done.get()
            # Let results gather a moment: each write is a commit, and one per few results
            # cost more than the results (unwritten ones are sent again after a crash).
            try:
                await asyncio.sleep(_RECORD_GATHER_S)
            except asyncio.CancelledError:
                self._done.put_nowait(first)  # a stop writes it down with the rest
                raise
            batch = [first, *self._drain()]
            try:
                await self._record(batch)
            except Exception:
                # Unrecorded sends are sent again once their lease lapses (at-least-once).
                log.exception("recording %d delivery results failed", len(batch))

    @staticmethod
    async def _attempt(send: object, outbound: OutboundMessage) -> _Result:
        assert callable(send)
        try:
            receipt: Receipt = await send(outbound)
        except TemporaryFailure as failure:
            return _Result("temporary", error=failure.reason, retry_after=failure.retry_after)
        except PermanentFailure as failure:
            return _Result("permanent", error=failure.reason, address_gone=failure.address_gone)
        except ChannelFailure as failure:
            return _Result("temporary", error=failure.reason)
        except Exception as exc:  # a channel bug: retry rather than lose the message
            log.exception("channel %s raised unexpectedly", outbound.channel)
            return _Result("temporary", error=f"internal error: {type(exc).__name__}")
        return _Result(str(receipt.outcome), provider_id=receipt.provider_id)

    def next_try(self, message: Message, result: _Result, now: datetime) -> datetime | None:
        """When to try a temporarily failed message again, or None when retries are spent."""
        schedule = self.settings.retry_schedule_s
        if message.attempts > len(schedule):
            return None
        delay = schedule[message.attempts - 1]
        spread = self.settings.jitter
        delay *= 1 + self.rng.uniform(-spread, spread)
        if result.retry_after is not None:
            delay = max(delay, result.retry_after)
        return self.composer.quiet.next_allowed(
            now + timedelta(seconds=delay), message.channel, urgent=message.urgent
        )

    async def _plan(self, done: _Done) -> tuple[str, datetime | None, NewMessage | None]:
        """(final status or "queued", when to retry, the fallback message) for a result
        that is not final by itself (see _FINAL)."""
        result, message = done.result, done.message
        retry_at = (
            self.next_try(message, result, done.at) if result.outcome == "temporary" else None
        )
        if retry_at is not None:
            if message.expires_at is None or retry_at < message.expires_at:
                return MessageStatus.QUEUED, retry_at, None
            # No try fits before it expires: as good as out of tries on this channel, so
            # the next one gets its chance (an SMS gateway down the hour before a meeting).
            backup = await fallback(self.store, self.composer, message, now=done.at)
            return MessageStatus.EXPIRED, None, backup
        backup = await fallback(self.store, self.composer, message, now=done.at)
        return MessageStatus.FAILED, None, backup

    async def _plan_or_retry(self, done: _Done) -> tuple[str, datetime | None, NewMessage | None]:
        """_plan, or a try again in a minute when planning fails: one result's trouble (a
        fallback's template failing on this resident) must not lose the batch's others."""
        try:
            return await self._plan(done)
        except Exception:
            log.exception("planning what follows message %s failed", done.message.uid)
            return MessageStatus.QUEUED, done.at + _REPLAN_DELAY, None

    async def _record(self, batch: list[_Done]) -> None:
        """Write a batch of results in one transaction: attempts, statuses, fallbacks."""
        if not batch:
            return
        # Most results are final as they stand: only the rest need a coroutine each.
        plans = [
            (done.result.outcome, None, None)
            if done.result.outcome in _FINAL
            else (MessageStatus.QUEUED, None, None)  # put back: released in txn
            if done.result.outcome == _DEFERRED
            else await self._plan_or_retry(done)
            for done in batch
        ]

        async def txn(tx: Tx) -> set[int]:
            # A result whose message a report settled meanwhile (delivered before the
            # provider answered us) is written down as an attempt and nothing more: no
            # retry, no disabled address, no fallback to a resident who has the message.
            open_ids = await sql.still_open(tx, [d.message for d in batch])
            await sql.record_attempts(
                tx,
                [
                    (
                        d.message,
                        d.at,
                        d.duration_ms,
                        d.result.outcome,
                        d.result.provider_id,
                        d.result.error,
                    )
                    for d in batch
                    if d.duration_ms is not None
                ],
            )
            settled = [
                (status, d.at, d.result.provider_id, d.result.error, d.message.id, d.message.uid)
                for d, (status, _, _) in zip(batch, plans, strict=True)
                if status != MessageStatus.QUEUED
            ]
            await sql.settle_many(tx, settled)
            for done, (status, retry_at, backup) in zip(batch, plans, strict=True):
                if done.message.id not in open_ids:
                    continue
                error = done.result.error or "failed"
                if done.result.outcome == _DEFERRED:
                    later = timedelta(seconds=done.result.retry_after or 0)
                    await sql.release(tx, done.message, done.at + later, done.at)
                if retry_at is not None:
                    await sql.requeue(tx, done.message, retry_at, error, done.at)
                if status == MessageStatus.FAILED and done.result.address_gone:
                    if done.message.contact_id:
                        await recipients_sql.disable_contact(
                            tx, done.message.contact_id, error, done.at
                        )
                    elif done.message.subscription_id:
                        await subscription_sql.disable(
                            tx, done.message.subscription_id, error, done.at
                        )
                    elif done.message.chat_group_id:
                        await chat_group_sql.disable(tx, done.message.chat_group_id, error, done.at)
                if backup is not None:
                    await sql.insert_messages(tx, [backup], done.at)
            return open_ids

        open_ids = await self.store.write(txn)
        for done, (_, _, backup) in zip(batch, plans, strict=True):
            if backup is not None and done.message.id in open_ids:
                log.info(
                    "message %s failed on %s; falling back to %s",
                    done.message.uid,
                    done.message.channel,
                    backup.channel,
                )


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """The worker in the background for as long as the context is open."""
    task = asyncio.create_task(worker.run(), name=f"linli-{worker.name}")
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
