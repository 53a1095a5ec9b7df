"""Publishing outcomes survives a crash: the server is SIGKILLed halfway through
publishing a batch of items and started again; publishing the batch again then tells
every raiser and supporter exactly once (one outcome notice per person and item)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.bench.outbox import populate
from tests.processes import free_port, wait_healthy

HOUSEHOLDS = 150
ITEMS = 40
LINLI = str(Path(sys.executable).parent / "linli")
ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-28T02:00:00.000000Z"


def _config(tmp: Path) -> Path:
    config = tmp / "crash.toml"
    config.write_text(
        f"""
[server]
secret_file = "{tmp / "secret"}"
access_log = false
[delivery]
poll_interval_s = 0.05
[channels.file]
path = "{tmp / "outbox"}"
""",
        encoding="utf-8",
    )
    return config


def _decided_items(db: Path) -> list[int]:
    """ITEMS decided items, each supported by every household (its first resident)."""
    conn = sqlite3.connect(db)
    with conn:
        ids = []
        for n in range(ITEMS):
            cur = conn.execute(
                "INSERT INTO consultation_items (title, status, decision, outcome, created_at,"
                " updated_at) VALUES (?, 'decided', 'accepted', '同意', ?, ?)",
                (f"议题{n}", NOW, NOW),
            )
            ids.append(int(cur.lastrowid or 0))
        conn.executemany(
            "INSERT INTO item_supports (item_id, household_id, resident_id, via, created_at)"
            " VALUES (?, ?, ?, 'page', ?)",
            [(i, h, (h - 1) * 4 + 1, NOW) for i in ids for h in range(1, HOUSEHOLDS + 1)],
        )
    conn.close()
    return ids


def _told(db: Path) -> tuple[int, int, int]:
    """(outcome_notices rows, outcome_notice messages, (item, resident) pairs told)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        notices = conn.execute("SELECT COUNT(*) FROM outcome_notices").fetchone()[0]
        messages = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE kind = 'outcome_notice'"
        ).fetchone()[0]
        pairs = conn.execute(
            "SELECT COUNT(*) FROM outcome_notices o JOIN messages m ON m.uid = o.message_uid"
        ).fetchone()[0]
    finally:
        conn.close()
    return int(notices), int(messages), int(pairs)


def _serve(config: Path, db: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [LINLI, "serve", "--config", str(config), "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _token(config: Path, db: Path) -> str:
    argv = [LINLI, "token", "create", "--role", "organiser", "--name", "t", "--db", str(db),
            "--config", str(config)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


async def _publish(port: int, token: str, ids: list[int]) -> aiohttp.ClientResponse | None:
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/api/v1/items/publish"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with http.post(url, headers=headers, json={"item_ids": ids}) as resp:
                await resp.read()
                return resp
        except aiohttp.ClientError:  # the server died under the request
            return None


async def test_outcome_publish_killed_halfway_then_again_tells_each_person_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crash.db"
    await asyncio.to_thread(populate, db, HOUSEHOLDS * 4, "sms", lambda i: f"+86138{i:08d}")
    ids = await asyncio.to_thread(_decided_items, db)
    config = _config(tmp_path)
    token = await asyncio.to_thread(_token, config, db)
    port = free_port()
    expected = HOUSEHOLDS * ITEMS

    server = _serve(config, db, port)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        publishing = asyncio.create_task(_publish(port, token, ids))
        # Killed as soon as the first items' notices are committed.
        while (await asyncio.to_thread(_told, db))[0] == 0:
            assert not publishing.done(), "the publish ended before it could be cut"
            await asyncio.sleep(0.005)
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    await publishing
    notices, messages, pairs = await asyncio.to_thread(_told, db)
    assert 0 < notices < expected, "the kill came too late to test anything"
    assert notices == messages == pairs  # a notice row and its message, or neither

    server = _serve(config, db, port)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        for _ in range(2):  # the retry, and a republish for good measure
            resp = await _publish(port, token, ids)
            assert resp is not None and resp.status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert await asyncio.to_thread(_told, db) == (expected, expected, expected)
