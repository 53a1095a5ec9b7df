"""Group commit's shortcuts: rerunnable jobs sharing one SAVEPOINT, and the transaction's
memo of reads (an answer's event, the webhook listeners) that later jobs of a batch reuse."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.store import Store, Tx
from service.store import subscriptions as subscription_sql


async def _room(tx: Tx, name: str, capacity: int = 10) -> int:
    return await tx.execute(
        "INSERT INTO rooms (name, capacity, created_at) VALUES (?, ?, 'x')", (name, capacity)
    )


Job = tuple[Callable[[Tx], Awaitable[Any]], dict[str, bool]]


async def one_batch(store: Store, jobs: list[Job]) -> list[Any]:
    """Run `jobs` (with their write() options) in one group commit, in order: the writer is
    held by a first job until every one of them is queued behind it."""
    gate = threading.Event()

    async def hold(tx: Tx) -> None:
        gate.wait(5)  # blocks the writer thread, so the jobs below queue up

    held = asyncio.ensure_future(store.write(hold))
    tasks = [asyncio.ensure_future(store.write(fn, **options)) for fn, options in jobs]
    await asyncio.sleep(0.05)  # every task has put its job in the queue
    gate.set()
    await held
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_store_rerunnable_jobs_isolate_a_failing_one(tmp_path: Path) -> None:
    async with Store(tmp_path / "linli.db") as store:

        async def room_then_fail(tx: Tx) -> None:
            await _room(tx, "half-written")
            raise ValueError("boom")

        rerun = {"rerunnable": True}

        def room(name: str) -> Callable[[Tx], Awaitable[int]]:
            return lambda tx: _room(tx, name)

        jobs: list[Job] = [(room(f"room {i}"), rerun) for i in range(50)]
        jobs.insert(20, (room_then_fail, rerun))
        jobs.insert(40, (room("room 3"), rerun))  # IntegrityError
        jobs.append((room("not rerunnable"), {}))
        results = await one_batch(store, jobs)
        assert isinstance(results[20], ValueError)
        assert isinstance(results[40], sqlite3.IntegrityError)
        rest = results[:20] + results[21:40] + results[41:]
        assert all(isinstance(r, int) for r in rest)
        rows = await store.fetchall("SELECT id, name FROM rooms")
    assert {r["name"] for r in rows} == {f"room {i}" for i in range(50)} | {"not rerunnable"}
    # Each job's answer is the row it wrote as committed, not a rolled-back first run's.
    ids = {r["name"]: r["id"] for r in rows}
    assert results[0] == ids["room 0"] and results[-1] == ids["not rerunnable"]


async def test_store_memo_is_dropped_after_a_job_that_is_not_memo_safe(tmp_path: Path) -> None:
    async with Store(tmp_path / "linli.db") as store:
        room = await store.write(lambda tx: _room(tx, "hall", 10))

        async def capacity(tx: Tx) -> int:
            if "hall" not in tx.memo:
                row = await tx.fetchone("SELECT capacity FROM rooms WHERE id = ?", (room,))
                assert row is not None
                tx.memo["hall"] = row[0]
            return int(tx.memo["hall"])

        async def enlarge(tx: Tx) -> None:
            await tx.execute("UPDATE rooms SET capacity = 20 WHERE id = ?", (room,))

        async def kept(tx: Tx) -> bool:
            return "hall" in tx.memo

        safe = {"memo_safe": True, "rerunnable": True}
        results = await one_batch(
            store,
            [(capacity, safe), (kept, safe), (enlarge, {}), (kept, safe), (capacity, safe)],
        )
    assert results == [10, True, None, False, 20]


async def test_store_listeners_are_read_again_after_a_subscription_changes(
    tmp_path: Path,
) -> None:
    async with Store(tmp_path / "linli.db") as store:

        async def listening(tx: Tx) -> list[str]:
            return [listener.url for listener in await subscription_sql.listeners(tx)]

        async def subscribe(tx: Tx) -> int:
            return await subscription_sql.insert(
                tx,
                url="https://hooks.example.org/linli",
                event_types=["rsvp.changed"],
                description="",
                secret="whsec_" + "A" * 32,
                now=datetime(2026, 11, 28, tzinfo=UTC),
            )

        # Even inside jobs that claim memo safety, a subscription write drops the list.
        safe = {"memo_safe": True}
        results = await one_batch(store, [(listening, safe), (subscribe, safe), (listening, safe)])
    assert results[0] == []
    assert results[2] == ["https://hooks.example.org/linli"]
