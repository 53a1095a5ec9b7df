"""The store: migrations, pragmas, group commit, isolation of failing writes, backup."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from service.store import Store, Tx, backup, migrations
from service.store.core import WriteJobAwaitedError
from service.store.errors import DuplicateKey

EXPECTED_TABLES = {
    "rooms": {"id", "name", "capacity", "location", "created_at"},
    "households": {"id", "unit", "building", "notes", "created_at", "updated_at"},
    "residents": {
        "id", "household_id", "name", "language", "notes", "created_at", "updated_at"
    },
    "resident_tags": {"resident_id", "tag"},
    "contacts": {
        "id", "resident_id", "channel", "address", "rank", "opted_out_at", "created_at"
    },
    "staff": {"id", "name", "role", "created_at"},
    "api_tokens": {
        "id", "name", "role", "staff_id", "room_id", "token_hash", "hint", "created_at",
        "expires_at", "last_used_at", "revoked_at",
    },
    "events": {
        "id", "kind", "title", "description", "location", "room_id", "starts_at", "ends_at",
        "capacity", "max_party_size", "rsvp_deadline", "status", "created_at", "updated_at",
        "published_at", "cancelled_at",
    },
    "event_audience_tags": {"event_id", "tag"},
}  # fmt: skip


async def test_store_migrates_an_empty_file_to_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "linli.db"
    async with Store(path) as store:
        assert store.schema_version == len(migrations())
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_")
    }
    assert EXPECTED_TABLES.keys() <= tables
    for table, columns in EXPECTED_TABLES.items():
        found = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        assert columns <= found, f"{table} lacks {columns - found}"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


async def test_store_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    async with Store(path) as store:
        await store.write(lambda tx: _room(tx, "活动室"))
    async with Store(path) as store:
        rows = await store.fetchall("SELECT name FROM rooms")
    assert [r["name"] for r in rows] == ["活动室"]


async def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this Linli"):
        await Store(path).open()


async def test_store_connection_pragmas(tmp_path: Path) -> None:
    async with Store(tmp_path / "a.db", synchronous="NORMAL") as store:
        assert (await store.fetchone("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
        # synchronous: 1 = NORMAL, 2 = FULL
        assert (await store.fetchone("PRAGMA synchronous"))[0] == 1  # type: ignore[index]
    async with Store(tmp_path / "b.db") as store:
        assert (await store.fetchone("PRAGMA synchronous"))[0] == 2  # type: ignore[index]


async def _room(tx: Tx, name: str) -> int:
    return await tx.execute(
        "INSERT INTO rooms (name, capacity, created_at) VALUES (?, 10, 'x')", (name,)
    )


async def test_store_group_commit_isolates_a_failing_write(tmp_path: Path) -> None:
    async with Store(tmp_path / "linli.db") as store:

        async def two_rooms_then_fail(tx: Tx) -> None:
            await _room(tx, "half-written")
            raise ValueError("boom")

        results = await asyncio.gather(
            *(store.write(lambda tx, i=i: _room(tx, f"room {i}")) for i in range(200)),
            store.write(two_rooms_then_fail),
            store.write(lambda tx: _room(tx, "room 7")),  # duplicate name: DuplicateKey
            return_exceptions=True,
        )
        assert all(isinstance(r, int) for r in results[:200])
        assert isinstance(results[200], ValueError)
        assert isinstance(results[201], DuplicateKey)
        names = {r["name"] for r in await store.fetchall("SELECT name FROM rooms")}
    assert names == {f"room {i}" for i in range(200)}


async def test_store_refuses_a_write_job_that_awaits_something_else(tmp_path: Path) -> None:
    async with Store(tmp_path / "linli.db") as store:

        async def room_then_wait(tx: Tx) -> None:
            await _room(tx, "waited")
            await asyncio.sleep(0)  # would stall every writer behind it

        with pytest.raises(WriteJobAwaitedError):
            await store.write(room_then_wait)
        assert await store.write(lambda tx: _room(tx, "next")) > 0
        names = {r["name"] for r in await store.fetchall("SELECT name FROM rooms")}
    assert names == {"next"}


async def test_store_backup_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    async with Store(path) as store:
        await asyncio.gather(*(store.write(lambda tx, i=i: _room(tx, f"r{i}")) for i in range(50)))
        writes = asyncio.gather(
            *(store.write(lambda tx, i=i: _room(tx, f"late{i}")) for i in range(50))
        )
        # The CLI's backup runs in another process, as it would beside a live server.
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "service", "backup", str(tmp_path / "b.db"), "--db", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        await writes
    assert done.returncode == 0, done.stderr
    copy = sqlite3.connect(tmp_path / "b.db")
    count = copy.execute("SELECT count(*) FROM rooms WHERE name LIKE 'r%'").fetchone()[0]
    assert count == 50
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy.close()


def test_store_backup_of_a_missing_database_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        backup(tmp_path / "none.db", tmp_path / "b.db")
    assert not (tmp_path / "b.db").exists()


async def test_migrations_8_and_9_move_queued_bodies(tmp_path: Path) -> None:
    # A database written before 0008 kept a webhook's JSON in extra.payload (an integrator's
    # event only there), and before 0009 the text in the messages row: after upgrading, the
    # queued messages still go out with that JSON, now in message_bodies.
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for version, _, sql in migrations()[:7]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    stamp = "2026-11-28T02:00:00.000000Z"
    rows = [
        ("msg_a", "integration", "", '{"payload":{"type":"checkin.recorded","n":"王"}}'),
        ("msg_b", "invitation", '{"type":"invitation.created"}', '{"rsvp_url":"u","payload":{}}'),
        ("msg_c", "invitation", "text", '{"rsvp_url":"u"}'),
    ]
    with conn:
        conn.executemany(
            "INSERT INTO messages (uid, group_uid, kind, channel, address, language, body_text,"
            " extra, send_after, created_at, updated_at)"
            " VALUES (?, ?, ?, 'webhook', 'https://example.org/h', 'en', ?, ?, ?, ?, ?)",
            [(uid, uid, kind, body, extra, stamp, stamp, stamp) for uid, kind, body, extra in rows],
        )
    conn.close()
    async with Store(path) as store:
        found = {
            r["uid"]: (
                json.loads(r["body_text"]) if r["uid"] != "msg_c" else r["body_text"],
                json.loads(r["extra"]),
            )
            for r in await store.fetchall(
                "SELECT uid, body_text, extra FROM messages JOIN message_bodies ON message_id = id"
            )
        }
    assert found == {
        "msg_a": ({"type": "checkin.recorded", "n": "王"}, {}),
        "msg_b": ({"type": "invitation.created"}, {"rsvp_url": "u"}),
        "msg_c": ("text", {"rsvp_url": "u"}),
    }


async def test_a_table_rebuild_keeps_every_row_and_reference(tmp_path: Path) -> None:
    # The migration that lets an invitation outlive its resident rebuilds the table with
    # foreign keys off: the answers, the check-in and the message that refer to it must
    # all still be there and still refer to it, and foreign keys must be on again.
    path = tmp_path / "old.db"
    scripts = migrations()
    rebuild = next(i for i, (_, _, sql) in enumerate(scripts) if "invitations_new" in sql)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    for version, _, sql in scripts[:rebuild]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    t, end = "2026-11-28T02:00:00.000000Z", "2026-11-28T04:00:00.000000Z"
    with conn:
        conn.execute(f"INSERT INTO households VALUES (1, '1-1-101', '1', '', '{t}', '{t}')")
        conn.execute(f"INSERT INTO residents VALUES (1, 1, '张伟', 'zh-CN', '', '{t}', '{t}')")
        conn.execute(
            "INSERT INTO events (id, kind, title, starts_at, ends_at, status, created_at,"
            f" updated_at) VALUES (1, 'meeting', '院会', '{t}', '{end}', 'published', '{t}', '{t}')"
        )
        conn.execute(
            "INSERT INTO invitations (id, event_id, resident_id, answer, party_size,"
            f" created_at, updated_at) VALUES (7, 1, 1, 'yes', 2, '{t}', '{t}')"
        )
        conn.execute(f"INSERT INTO answers VALUES (1, 7, 'yes', 2, 'link', 'resident', '{t}')")
        conn.execute(f"INSERT INTO checkin_codes VALUES ('ABC234', 7, NULL, '{t}')")
        conn.execute(
            "INSERT INTO checkins (code, event_id, party_size, via, at)"
            f" VALUES ('ABC234', 1, 2, 'tablet', '{t}')"
        )
        conn.execute(
            "INSERT INTO messages (uid, group_uid, invitation_id, kind, channel, address,"
            " language, send_after, created_at, updated_at)"
            f" VALUES ('m', 'm', 7, 'invitation', 'sms', '+1', 'en', '{t}', '{t}', '{t}')"
        )
    conn.close()
    async with Store(path) as store:
        assert store.schema_version == len(scripts)
        assert (await store.fetchall("PRAGMA foreign_keys"))[0][0] == 1
        joined = await store.fetchall(
            "SELECT i.id, a.answer, k.party_size, m.uid FROM invitations i"
            " JOIN answers a ON a.invitation_id = i.id"
            " JOIN checkin_codes c ON c.invitation_id = i.id JOIN checkins k ON k.code = c.code"
            " JOIN messages m ON m.invitation_id = i.id"
        )
        assert [tuple(row) for row in joined] == [(7, "yes", 2, "m")]
        await store.write(lambda tx: tx.execute("DELETE FROM residents WHERE id = 1"))
        kept = await store.fetchall("SELECT resident_id, answer FROM invitations")
    assert [tuple(row) for row in kept] == [(None, "yes")]


def _modes(path: Path) -> dict[str, int]:
    """The permission bits of the database file and its -wal and -shm beside it."""
    return {
        p.name: stat.S_IMODE(p.stat().st_mode)
        for p in path.parent.iterdir()
        if p.name.startswith(path.name)
    }


async def test_store_files_are_private_to_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    async with Store(path) as store:
        await store.write(lambda tx: _room(tx, "活动室"))
        modes = _modes(path)
    assert modes.keys() == {"linli.db", "linli.db-wal", "linli.db-shm"}
    assert set(modes.values()) == {0o600}


async def test_store_makes_an_older_readable_database_private_at_start(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    # Written by an older Linli (mode 0644), its -wal and -shm kept by an open connection.
    older = sqlite3.connect(path, isolation_level=None)
    older.execute("PRAGMA journal_mode = WAL")
    older.execute("CREATE TABLE kept (x)")
    for name in ("linli.db", "linli.db-wal", "linli.db-shm"):
        (tmp_path / name).chmod(0o644)
    try:
        async with Store(path):
            modes = _modes(path)
    finally:
        older.close()
    assert modes.keys() == {"linli.db", "linli.db-wal", "linli.db-shm"}
    assert set(modes.values()) == {0o600}
