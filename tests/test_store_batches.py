"""Group commit's shortcuts: rerunnable jobs sharing one SAVEPOINT, the transaction's
memo of reads (an answer's event, the webhook listeners) that later jobs of a batch reuse,
and the callbacks told once a batch's notices are committed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.store import Store, Tx
from service.store import subscriptions as subscription_sql
from service.store.core import fetch_packed
from service.store.errors import DuplicateKey


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
        jobs.insert(40, (room("room 3"), rerun))  # DuplicateKey
        jobs.append((room("not rerunnable"), {}))
        results = await one_batch(store, jobs)
        assert isinstance(results[20], ValueError)
        assert isinstance(results[40], DuplicateKey)
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
    # The secret file seals the subscription's secret (see service/core/secretbox.py).
    async with Store(tmp_path / "linli.db", secret_file=tmp_path / "linli.secret") as store:

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


async def test_store_execute_rows_writes_every_row_of_any_batch_size(tmp_path: Path) -> None:
    # Batches are cut into power-of-two statements: every size must land whole and in order,
    # wide rows too (SQLite binds at most 32,766 parameters a statement).
    async with Store(tmp_path / "linli.db") as store:
        await store.write(lambda tx: tx.execute("CREATE TABLE wide (n INTEGER, batch INTEGER)"))
        sizes = [0, 1, 2, 7, 512, 513, 1300]
        for size in sizes:
            rows = [(n, size) for n in range(size)]

            async def insert(tx: Tx, rows: list[tuple[int, int]] = rows) -> None:
                await tx.execute_rows("INSERT INTO wide (n, batch) VALUES {rows}", rows)

            await store.write(insert)
        for size in sizes:
            got = await store.fetchall("SELECT n FROM wide WHERE batch = ? ORDER BY rowid", (size,))
            assert [row["n"] for row in got] == list(range(size))

        width = 100  # 327 rows a statement at most: 1,000 rows take several
        columns = ", ".join(f"c{i}" for i in range(width))
        await store.write(lambda tx: tx.execute(f"CREATE TABLE wider ({columns})"))
        many = [tuple(range(r, r + width)) for r in range(1000)]

        async def insert_wide(tx: Tx) -> None:
            await tx.execute_rows(f"INSERT INTO wider ({columns}) VALUES {{rows}}", many)

        await store.write(insert_wide)
        got = await store.fetchall(f"SELECT {columns} FROM wider ORDER BY rowid")
        assert [tuple(row) for row in got] == many


async def test_store_fetch_packed_reads_values_as_they_are(tmp_path: Path) -> None:
    # A packed read goes through JSON: text stays text (even text that looks like JSON or a
    # number), NULL comes back as None, and an empty result is an empty list.
    async with Store(tmp_path / "linli.db") as store:
        await store.write(
            lambda tx: tx.execute("CREATE TABLE odd (id INTEGER PRIMARY KEY, t TEXT, r REAL)")
        )
        values = [(1, '{"a": 1}', 1.5), (2, "42", None), (3, None, 2.0), (4, '居民\n"', 0.0)]

        async def insert(tx: Tx) -> None:
            await tx.execute_rows("INSERT INTO odd (id, t, r) VALUES {rows}", values)

        await store.write(insert)
        sql = "SELECT json_group_array(json_array(id, t, r)) FROM odd WHERE id > ?"
        assert await fetch_packed(store.reader, sql, (0,)) == [list(v) for v in values]
        assert await fetch_packed(store.reader, sql, (9,)) == []


async def test_store_on_commit_hears_each_committed_batch_once(tmp_path: Path) -> None:
    async with Store(tmp_path / "linli.db") as store:
        heard: list[str] = []
        store.on_commit("outbox", lambda: heard.append("outbox"))

        async def queue(tx: Tx) -> None:
            tx.notify("outbox")

        async def queue_then_fail(tx: Tx) -> None:
            tx.notify("outbox")
            raise ValueError("boom")

        async def nothing(tx: Tx) -> None:
            pass

        for options in ({}, {"rerunnable": True}):
            # A job that notified and then rolled back tells nobody, though its batch commits.
            await one_batch(
                store, [(queue_then_fail, options), (lambda tx: _room(tx, "a"), options)]
            )
            await store.write(nothing)  # anything told before has been heard by now
            assert heard == []
            await store.write(lambda tx: tx.execute("DELETE FROM rooms"))
        # Three jobs notified and one of them rolled back: the commit is heard once.
        rerun = {"rerunnable": True}
        await one_batch(store, [(queue, rerun), (queue_then_fail, rerun), (queue, {})])
        await store.write(nothing)
        assert heard == ["outbox"]
        await store.write(queue)
        assert heard == ["outbox", "outbox"]
