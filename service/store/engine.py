"""The SQLite store: one writer thread with group commit, one reader, migrations. How a
batch of jobs runs lives in core.py, whose private parts only this module uses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite

from ..core.secret import load_or_create
from ..core.secretbox import NoSecretBox, SecretBox
from . import sealed
from .core import (
    Callback,
    Db,
    Params,
    Row,
    Tx,
    _Job,
    _PointReads,
    _Queries,
    _run_each,
    _run_together,
    _settle,
)
from .files import make_private

T = TypeVar("T")
log = logging.getLogger("linli.store")

MIGRATIONS_PACKAGE: Final = "service.migrations"
# A migration that begins with this line rebuilds a table: it runs with foreign keys off.
REBUILD_MARK: Final = "-- linli: rebuild"


def migrations() -> list[tuple[int, str, str]]:
    """The numbered migration scripts as (version, name, sql), in order."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration {name} is out of sequence (expected {expected:04d})")
    return found


class Store:
    """All access to the database goes through here.

    Writes are jobs handed to `write()`. One writer thread runs every job waiting at that
    moment in one transaction, each job inside its own SAVEPOINT (so one failing job rolls
    back alone; consecutive rerunnable jobs share one, and run again one by one when any of
    them fails), then commits once and answers every caller: with synchronous=FULL that is
    one fsync for the whole group instead of one per caller.

    A job is a coroutine function of a `Tx`, run to its end on the writer thread: Tx
    answers synchronously, so a statement costs a call into SQLite rather than a round trip
    between the event loop and a database thread (about ten times less). A job must
    therefore only talk to its transaction and compute; awaiting anything else is refused
    (WriteJobAwaitedError), and it must not touch the event loop's objects. Reads go
    through `reader`, an aiosqlite connection.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5000,
        batch_max: int = 256,
        secret_file: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        # The key of the values sealed at rest comes from the server secret file; without
        # one (some tests, tools) the store can neither seal nor open them.
        self.secret_file = None if secret_file is None else Path(secret_file)
        self.box: SecretBox = NoSecretBox()
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.batch_max = batch_max
        self.schema_version = 0
        self._writer: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._reads: _Queries | None = None
        self._points: sqlite3.Connection | None = None
        self._point_reads: _PointReads | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Per topic, the (loop, callback) pairs on_commit registered: a tuple replaced
        # whole, never changed in place, so the writer thread reads it without a lock.
        self._on_commit: dict[str, tuple[tuple[asyncio.AbstractEventLoop, Callback], ...]] = {}

    def _pragmas(self) -> list[str]:
        return [
            f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}",
            "PRAGMA foreign_keys = ON",
            f"PRAGMA synchronous = {self.synchronous}",
            # Deleted and overwritten content is zeroed, not left in free space or in a
            # page's free blocks: an erased resident's number must not survive in the file.
            "PRAGMA secure_delete = ON",
        ]

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in self._pragmas():
            await conn.execute(pragma)
        return conn

    def _open_points(self) -> sqlite3.Connection:
        # check_same_thread off: tests open and close stores from fixtures' threads.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for pragma in self._pragmas():
            conn.execute(pragma)
        conn.execute("PRAGMA query_only = ON")
        return conn

    def _open_writer(self) -> int:
        """Open the writer connection, switch to WAL and migrate; the schema version."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._writer = conn
        conn.row_factory = sqlite3.Row
        for pragma in self._pragmas():
            conn.execute(pragma)
        row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise RuntimeError(f"{self.path}: could not switch to WAL journal mode")
        # A SAVEPOINT keeps the pages its jobs change in a statement journal, which SQLite
        # spills to a temporary file past 64 KiB: a write() per page for a group of answers
        # (checkin codes land on random pages). In memory it is a copy.
        conn.execute("PRAGMA temp_store = MEMORY")
        return self._migrate(conn)

    async def open(self) -> None:
        """Create the file if needed, migrate it, and start the writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        make_private(self.path)
        if self.secret_file is not None:
            self.box = SecretBox(load_or_create(self.secret_file))
        try:
            self.schema_version = await asyncio.to_thread(self._open_writer)
            self._reader = await self._connect()
            await self._reader.execute("PRAGMA query_only = ON")
            self._reads = _Queries(self._reader, self.box)
            self._points = self._open_points()
            self._point_reads = _PointReads(self._points, self.box)
            self._thread = threading.Thread(
                target=self._run_writer, name="linli-store-writer", daemon=True
            )
            self._thread.start()
            if self.secret_file is not None:
                # The key first: plain text sealed under a wrong key could not be told
                # apart from the values that key cannot open.
                await sealed.check_key(self.reader)
                if count := await self.write(sealed.seal_plaintext):
                    log.info("sealed %d secrets an older Linli kept in plain text", count)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Finish queued writes, stop the writer and close both connections."""
        if self._thread is not None:
            self._jobs.put(None)  # after every job already queued
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._reader is not None:
            await self._reader.close()
        if self._points is not None:
            self._points.close()
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = self._reads = self._points = self._point_reads = None

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> int:
        row = conn.execute("PRAGMA user_version").fetchone()
        current = int(row[0]) if row else 0
        scripts = migrations()
        if current > len(scripts):
            raise RuntimeError(
                f"database schema version {current} is newer than this Linli ({len(scripts)})"
            )
        for version, name, sql in scripts[current:]:
            log.info("applying migration %s", name)
            rebuild = sql.startswith(REBUILD_MARK)
            # A table rebuild drops the old table: with foreign keys on, that would cascade
            # into every table referring to it. SQLite ignores this pragma inside a
            # transaction, so it is set around it, and foreign_key_check proves the rebuilt
            # table still satisfies every reference before the commit.
            if rebuild:
                conn.execute("PRAGMA foreign_keys = OFF")
            # One transaction per script, so a failed migration leaves the previous version.
            try:
                conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};")
                broken = conn.execute("PRAGMA foreign_key_check").fetchone() if rebuild else None
                if broken is not None:
                    raise RuntimeError(
                        f"migration {name} breaks a reference: {tuple(broken)}"
                        " (table, rowid, parent, constraint)"
                    )
                conn.execute("COMMIT")
            except (sqlite3.Error, RuntimeError):
                if conn.in_transaction:
                    conn.rollback()
                raise
            finally:
                if rebuild:
                    conn.execute("PRAGMA foreign_keys = ON")
            current = version
        return current

    @property
    def reader(self) -> Db:
        """Read-only queries; sees every committed write."""
        if self._reads is None:
            raise RuntimeError("store is not open")
        return self._reads

    @property
    def lookups(self) -> Db:
        """Indexed point reads answered on the caller's thread (see _PointReads); sees
        every committed write. Anything that may scan goes to `reader`."""
        if self._point_reads is None:
            raise RuntimeError("store is not open")
        return self._point_reads

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """One row from the reader."""
        return await self.reader.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """All rows from the reader."""
        return await self.reader.fetchall(sql, params)

    async def write(
        self,
        fn: Callable[[Tx], Awaitable[T]],
        *,
        memo_safe: bool = False,
        rerunnable: bool = False,
    ) -> T:
        """Run `fn` in a write transaction and return its result once it is committed.

        `memo_safe`: fn changes nothing kept in `Tx.memo` (events, subscriptions), so the
        jobs after it in the batch may go on reusing those reads. `rerunnable`: fn is a
        function of its transaction alone (no effects outside it, nothing kept from a
        previous call), so it may run twice, the first run rolled back; neighbouring
        rerunnable jobs then share one SAVEPOINT (see _run_together)."""
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop, loop.create_future(), memo_safe, rerunnable)
        self._jobs.put(job)
        # No shield needed: a caller cancelled while waiting cancels only this future, the
        # job still runs with its batch, and _settle skips a future already done.
        result: T = await job.future
        return result

    def on_commit(self, topic: str, callback: Callback) -> Callback:
        """Call `callback` on this event loop after each commit in which a job notified
        `topic` (Tx.notify): once per commit, however many jobs did, and never for writes
        that rolled back. It runs after those jobs' callers have their results, so it must
        be quick and not raise. Returns what stops it.

        The delivery worker hears the outbox this way (store/outbox.py notifies OUTBOX when
        messages become due). Only this process's writes are heard: a worker in another
        process still finds them by polling."""
        entry = (asyncio.get_running_loop(), callback)
        self._on_commit[topic] = (*self._on_commit.get(topic, ()), entry)

        def stop() -> None:
            rest = tuple(e for e in self._on_commit.get(topic, ()) if e is not entry)
            self._on_commit[topic] = rest

        return stop

    def _committed(self, topics: frozenset[str]) -> dict[asyncio.AbstractEventLoop, list[Callback]]:
        """The callbacks to call, by loop, for a commit that notified `topics`."""
        calls: dict[asyncio.AbstractEventLoop, list[Callback]] = {}
        for topic in topics:
            for loop, callback in self._on_commit.get(topic, ()):
                if callback not in calls.setdefault(loop, []):
                    calls[loop].append(callback)
        return calls

    def _run_writer(self) -> None:
        """The writer thread: a batch of waiting jobs per transaction, until told to stop."""
        assert self._writer is not None
        conn = self._writer
        tx = Tx(conn, self.box)
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.batch_max:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            outcomes = self._transaction(conn, tx, batch)
            # Empty unless the transaction committed (see _transaction).
            calls = self._committed(tx.notices) if tx.notices else {}
            # One wake-up per event loop for the whole batch: each call_soon_threadsafe
            # writes to the loop's self-pipe, a system call.
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]
            by_loop = {loop: [] for loop in calls}
            for job, (ok, value) in zip(batch, outcomes, strict=True):
                by_loop.setdefault(job.loop, []).append((job.future, ok, value))
            for loop, results in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
                    loop.call_soon_threadsafe(_settle, results, calls.get(loop, ()))

    @staticmethod
    def _transaction(conn: sqlite3.Connection, tx: Tx, batch: list[_Job]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        try:
            # Other connections may have written since the last transaction.
            tx.memo.clear()
            tx.notices = frozenset()
            conn.execute("BEGIN IMMEDIATE")
            start = 0
            while start < len(batch):
                end = start + 1
                while end < len(batch) and batch[start].rerunnable and batch[end].rerunnable:
                    end += 1
                run = batch[start:end]
                together = _run_together(conn, tx, run) if len(run) > 1 else None
                outcomes.extend(together if together is not None else _run_each(conn, tx, run))
                start = end
            conn.execute("COMMIT")
        except Exception as exc:
            tx.memo.clear()
            tx.notices = frozenset()  # nothing was committed: nobody is told
            log.exception("write transaction failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(False, exc)] * len(batch)
        return outcomes

    async def rotate_secrets(self, new_secret: bytes) -> int:
        """Seal every sealed value under `new_secret`'s key instead of the current one, in
        one transaction; how many. The store must be reopened with the new secret file."""
        new = SecretBox(new_secret)
        return await self.write(lambda tx: sealed.reseal(tx, new))

    async def checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate the WAL to nothing; False when
        a reader kept it from finishing (a later checkpoint will). After an erasure: the
        WAL still holds the erased values' old page images until it is truncated."""

        def run() -> bool:
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                return row is not None and int(row[0]) == 0
            finally:
                conn.close()

        done = await asyncio.to_thread(run)
        if not done:
            log.warning("%s: the WAL checkpoint was kept from finishing by a reader", self.path)
        return done

    async def integrity_check(self) -> str:
        """SQLite's own quick check of the file: 'ok' when sound."""
        row = await self.fetchone("PRAGMA quick_check")
        return str(row[0]) if row else "no answer"
