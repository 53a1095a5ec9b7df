"""The SQLite store: one writer connection with group commit, one reader, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import aiosqlite

T = TypeVar("T")
Row = sqlite3.Row
Params = Sequence[Any]
log = logging.getLogger("linli.store")

MIGRATIONS_PACKAGE: Final = "service.migrations"


class Db(Protocol):
    """What store functions need: the writer's transaction or the reader."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


class _Queries:
    """fetchone/fetchall over an aiosqlite connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cur:
            row: Row | None = await cur.fetchone()
            return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())


class Tx(_Queries):
    """One write job's view of the open transaction; only the writer task makes these."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the last inserted rowid."""
        async with self._conn.execute(sql, params) as cur:
            return cur.lastrowid or 0

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter row."""
        await self._conn.executemany(sql, rows)

    async def changes(self) -> int:
        """Rows changed by the last statement."""
        row = await self.fetchone("SELECT changes()")
        return int(row[0]) if row else 0


@dataclass
class _Job:
    fn: Callable[[Tx], Awaitable[Any]]
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


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

    Writes are jobs handed to `write()`. One writer task runs every job waiting at that
    moment in one transaction, each job inside its own SAVEPOINT (so one failing job rolls
    back alone), then commits once and answers every caller: with synchronous=FULL that is
    one fsync for the whole group instead of one per caller. A job must only talk to the
    database; awaiting anything else would hold up every writer behind it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5000,
        batch_max: int = 256,
    ) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.batch_max = batch_max
        self.schema_version = 0
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._reads: _Queries | None = None
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        return conn

    async def open(self) -> None:
        """Create the file if needed, migrate it, and start the writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            async with self._writer.execute("PRAGMA journal_mode = WAL") as cur:
                row = await cur.fetchone()
                if row is None or str(row[0]).lower() != "wal":
                    raise RuntimeError(f"{self.path}: could not switch to WAL journal mode")
            self.schema_version = await self._migrate(self._writer)
            self._reader = await self._connect()
            await self._reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await self.close()
            raise
        self._reads = _Queries(self._reader)
        self._task = asyncio.create_task(self._run_writer(), name="linli-store-writer")

    async def close(self) -> None:
        """Finish queued writes, stop the writer and close both connections."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = self._reads = None

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @staticmethod
    async def _migrate(conn: aiosqlite.Connection) -> int:
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        scripts = migrations()
        if current > len(scripts):
            raise RuntimeError(
                f"database schema version {current} is newer than this Linli ({len(scripts)})"
            )
        for version, name, sql in scripts[current:]:
            log.info("applying migration %s", name)
            # One transaction per script, so a failed migration leaves the previous version.
            try:
                await conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
                )
            except sqlite3.Error:
                if conn.in_transaction:
                    await conn.rollback()
                raise
            current = version
        return current

    @property
    def reader(self) -> Db:
        """Read-only queries; sees every committed write."""
        if self._reads is None:
            raise RuntimeError("store is not open")
        return self._reads

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """One row from the reader."""
        return await self.reader.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """All rows from the reader."""
        return await self.reader.fetchall(sql, params)

    async def write(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` in a write transaction and return its result once it is committed."""
        if self._task is None or self._task.done():
            raise RuntimeError("store is not open")
        job = _Job(fn)
        self._queue.put_nowait(job)
        result: T = await asyncio.shield(job.future)
        return result

    async def _run_writer(self) -> None:
        assert self._writer is not None
        conn = self._writer
        tx = Tx(conn)
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            outcomes: list[tuple[bool, Any]] = []
            try:
                await conn.execute("BEGIN IMMEDIATE")
                for job in batch:
                    await conn.execute("SAVEPOINT job")
                    try:
                        value = await job.fn(tx)
                    except Exception as exc:  # handed to the job's caller
                        await conn.execute("ROLLBACK TO job")
                        await conn.execute("RELEASE job")
                        outcomes.append((False, exc))
                    else:
                        await conn.execute("RELEASE job")
                        outcomes.append((True, value))
                await conn.execute("COMMIT")
            except asyncio.CancelledError:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(RuntimeError("store closed during write"))
                raise
            except Exception as exc:
                log.exception("write transaction failed")
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                outcomes = [(False, exc)] * len(batch)
            for job, (ok, value) in zip(batch, outcomes, strict=True):
                self._queue.task_done()
                if job.future.done():
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)

    async def integrity_check(self) -> str:
        """SQLite's own quick check of the file: 'ok' when sound."""
        row = await self.fetchone("PRAGMA quick_check")
        return str(row[0]) if row else "no answer"


def backup(source: str | Path, destination: str | Path) -> int:
    """Copy a live database with SQLite's online backup API; returns the pages copied."""
    src_path, dest_path = Path(source), Path(destination)
    if not src_path.exists():
        raise FileNotFoundError(f"no database at {src_path}")
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    partial = dest_path.with_name(dest_path.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(partial)
        try:
            src.backup(dest, pages=1024)
            ok = dest.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise RuntimeError(f"backup failed its integrity check: {ok}")
            pages = int(dest.execute("PRAGMA page_count").fetchone()[0])
        finally:
            dest.close()
    finally:
        src.close()
    # The rename is atomic, so PATH is either the old backup or a whole new one.
    partial.replace(dest_path)
    return pages
