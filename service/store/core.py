"""What store functions and write jobs use: the Db protocol, the writer's Tx, packed reads,
and how a batch of jobs runs inside one transaction (see engine.Store)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

import aiosqlite

from ..core.secretbox import SecretBox
from .errors import translated

T = TypeVar("T")
Row = sqlite3.Row
Params = Sequence[Any]
log = logging.getLogger("linli.store")

# SQLite binds at most this many parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER).
_MAX_PARAMS: Final = 32766
# The most rows Tx.execute_rows puts in one statement.
_MAX_ROWS: Final = 512


class Db(Protocol):
    """What store functions need: the writer's transaction or the reader."""

    # Seals and opens the values kept sealed at rest (see sealed.py).
    box: SecretBox

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


async def fetch_packed(db: Db, sql: str, params: Params = ()) -> list[Any]:
    """The rows of `sql`, a query of one json_group_array(...) column, as a list.

    For queries of many rows on a busy server: SQLite builds the whole answer in one step.
    Fetched row by row, each step lets go of the GIL and must take it back, and on a thread
    beside the event loop each take-back waits its turn (reading a claim of 256 rows took
    80 times longer beside a thread running Python than alone)."""
    row = await db.fetchone(sql, params)
    packed: list[Any] = json.loads(row[0]) if row is not None and row[0] is not None else []
    return packed


def marks(count: int) -> str:
    """`count` parameter marks for an IN (...) list."""
    return ", ".join("?" * count)


@functools.lru_cache(maxsize=256)
def _values(width: int, count: int) -> str:
    """A VALUES list of `count` rows of `width` parameters."""
    one = "(" + ", ".join("?" * width) + ")"
    return ", ".join(itertools.repeat(one, count))


def _chunks(total: int, width: int) -> list[tuple[int, int]]:
    """(start, end) spans covering `total` rows: powers of two, largest first, each within
    _MAX_ROWS and SQLite's parameter limit, so a few statement texts serve any total."""
    cap = 1 << (min(_MAX_ROWS, max(1, _MAX_PARAMS // width)).bit_length() - 1)
    spans: list[tuple[int, int]] = []
    start = 0
    while start < total:
        size = min(cap, 1 << ((total - start).bit_length() - 1))
        spans.append((start, start + size))
        start += size
    return spans


class _Queries:
    """fetchone/fetchall over an aiosqlite connection shared by every reader.

    Each query runs and is read to its end in one call on the connection's thread. Were a
    cursor left open across awaits, the queries of other requests interleaving with it
    would keep the connection's read transaction open, and with it a snapshot from before
    the latest commits: under load a request could miss the write it just made."""

    def __init__(self, conn: aiosqlite.Connection, box: SecretBox) -> None:
        self._conn = conn
        self.box = box

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        for row in rows:
            found: Row = row
            return found
        return None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))


class _PointReads:
    """fetchone/fetchall on the event loop's own thread, over a read-only connection.

    For indexed point queries only (an API token by hash, a check-in code): they take a
    few microseconds, less than the hop to the reader's thread and back. Each query is
    read to its end at once, so no read transaction outlives it."""

    def __init__(self, conn: sqlite3.Connection, box: SecretBox) -> None:
        self._conn = conn
        self.box = box

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = self._conn.execute(sql, params).fetchall()
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()


class Tx:
    """One write job's view of the open transaction. It runs on the writer thread and
    answers synchronously, so a job's awaits never leave that thread (see Store)."""

    def __init__(self, conn: sqlite3.Connection, box: SecretBox) -> None:
        self._conn = conn
        self.box = box
        # Rows read in this transaction that later jobs of the same batch may reuse (an
        # answer's event, the webhook listeners): emptied at every BEGIN and after every
        # job not written with memo_safe=True, so only jobs that promise not to change
        # them share it. Writers of a memoised table drop its entry too.
        self.memo: dict[Hashable, Any] = {}
        # The topics this transaction's jobs notified (see notify); a frozenset, so a
        # SAVEPOINT's rollback puts back the one it started with.
        self.notices: frozenset[str] = frozenset()

    def notify(self, topic: str) -> None:
        """Have the store call `topic`'s on_commit callbacks once this job's writes are
        committed (as PostgreSQL's NOTIFY: nothing is heard when they roll back)."""
        if topic not in self.notices:
            self.notices = self.notices | {topic}

    # Every statement that may write turns SQLite's refusal into the store's own error
    # (see errors.py); a try costs nothing until something is raised.

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query."""
        try:
            row: Row | None = self._conn.execute(sql, params).fetchone()
        except sqlite3.IntegrityError as exc:
            raise translated(exc) from exc
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.IntegrityError as exc:
            raise translated(exc) from exc

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the last inserted rowid."""
        try:
            return self._conn.execute(sql, params).lastrowid or 0
        except sqlite3.IntegrityError as exc:
            raise translated(exc) from exc

    async def execute_count(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT, UPDATE or DELETE; returns the rows it changed (no RETURNING,
        no second statement: one step into SQLite)."""
        try:
            return self._conn.execute(sql, params).rowcount
        except sqlite3.IntegrityError as exc:
            raise translated(exc) from exc

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter row."""
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise translated(exc) from exc

    async def execute_rows(self, sql: str, rows: Sequence[Params]) -> None:
        """Run `sql` over every row, its `{rows}` standing for a VALUES list of them.

        A few steps into SQLite for a batch, where executemany takes one per row: each step
        lets go of the GIL and must take it back (see fetch_packed). Beside a thread running
        Python, inserting a send's messages row by row took 240 times longer than alone;
        as one statement a batch, under 4 times."""
        if not rows:
            return
        width = len(rows[0])
        try:
            for start, end in _chunks(len(rows), width):
                params = list(itertools.chain.from_iterable(rows[start:end]))
                self._conn.execute(sql.replace("{rows}", _values(width, end - start)), params)
        except sqlite3.IntegrityError as exc:
            raise translated(exc) from exc

    async def changes(self) -> int:
        """Rows changed by the last statement."""
        row = self._conn.execute("SELECT changes()").fetchone()
        return int(row[0]) if row else 0


class WriteJobAwaitedError(RuntimeError):
    """A write job awaited something other than its transaction."""


def _run_job(fn: Callable[[Tx], Awaitable[T]], tx: Tx) -> T:
    """Run a job coroutine to its end on this thread. Tx never suspends, so the coroutine
    finishes in one step; one that suspends awaited something else and is refused."""
    coro = fn(tx)
    try:
        coro.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()  # type: ignore[attr-defined]
    raise WriteJobAwaitedError("a write job may only await its transaction")


Callback = Callable[[], None]


def _settle(
    results: list[tuple[asyncio.Future[Any], bool, Any]], callbacks: Sequence[Callback] = ()
) -> None:
    """On the callers' loop: hand each job's result or error to its caller, then call the
    on_commit callbacks of what the batch committed."""
    for future, ok, value in results:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
    for callback in callbacks:
        try:
            callback()
        except Exception:  # one listener's bug must not keep the others from hearing
            log.exception("an on_commit callback failed")


@dataclass
class _Job:
    fn: Callable[[Tx], Awaitable[Any]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    memo_safe: bool = False
    rerunnable: bool = False


def _run_each(conn: sqlite3.Connection, tx: Tx, jobs: list[_Job]) -> list[tuple[bool, Any]]:
    """Run jobs one by one, each inside its own SAVEPOINT, so a failing one rolls back
    alone; (ok, result or error) for each."""
    outcomes: list[tuple[bool, Any]] = []
    for job in jobs:
        conn.execute("SAVEPOINT job")
        notices = tx.notices
        try:
            value = _run_job(job.fn, tx)
        except Exception as exc:  # handed to the job's caller
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            tx.notices = notices
            outcomes.append((False, exc))
        else:
            conn.execute("RELEASE job")
            outcomes.append((True, value))
        if not job.memo_safe:
            tx.memo.clear()
    return outcomes


def _run_together(
    conn: sqlite3.Connection, tx: Tx, jobs: list[_Job]
) -> list[tuple[bool, Any]] | None:
    """Run rerunnable jobs inside one SAVEPOINT; None, with none of their writes kept, when
    any of them failed (the caller then runs them again one by one).

    A SAVEPOINT copies each page a job first changes into SQLite's statement journal: one
    per job cost about a quarter of an answer's time on the writer thread."""
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("SAVEPOINT jobs")
    notices = tx.notices
    try:
        for job in jobs:
            outcomes.append((True, _run_job(job.fn, tx)))
            if not job.memo_safe:
                tx.memo.clear()
    except Exception:
        conn.execute("ROLLBACK TO jobs")
        conn.execute("RELEASE jobs")
        tx.memo.clear()
        tx.notices = notices
        return None
    conn.execute("RELEASE jobs")
    return outcomes
