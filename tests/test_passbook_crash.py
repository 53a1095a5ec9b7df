"""A SIGKILL during a bulk credit of 5,000 households, a restart, and a retry with the same
idempotency key: every household is credited exactly once, and the books verify."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from service.store import Store
from tests.community import eventually
from tests.passbook import households, organiser_token, serve
from tests.processes import free_port, linli, wait_healthy

HOUSEHOLDS = 5000
POINTS = 5


def _body(homes: list[int]) -> dict[str, Any]:
    return {
        "kind": "earn",
        "idempotency_key": "volunteer-day-2026-12-05",
        "reason": "志愿者日",
        "credits": [{"household_id": h, "points": POINTS} for h in homes],
    }


async def _post(port: int, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/api/v1/passbook/postings"
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(url, json=body, headers=headers) as resp:
            return resp.status, await resp.json()


def _wal_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_sigkill_during_a_bulk_credit_then_a_retry_credits_each_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crash.db"
    async with Store(db) as store:
        homes = await households(store, HOUSEHOLDS)
    config = tmp_path / "crash.toml"
    config.write_text(
        f'[server]\nsecret_file = "{tmp_path / "secret"}"\naccess_log = false\n'
        "[channels.file]\nenabled = false\n",
        encoding="utf-8",
    )
    token = await asyncio.to_thread(organiser_token, config, db)
    body = _body(homes)
    port = free_port()

    server = serve(config, db, port)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        before = _wal_size(db)
        request = asyncio.ensure_future(_post(port, token, body))
        # Kill as soon as the writer starts on the credit's pages (or, on a fast machine,
        # once it answered): either way the retry below must credit each household once.
        await eventually(
            lambda: asyncio.sleep(0, _wal_size(db) != before or request.done()),
            bool,
            "the server began writing the credit",
            every=0.001,
        )
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    with contextlib.suppress(aiohttp.ClientError):  # the connection died with the server
        await request

    server = serve(config, db, port)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        status, posted = await _post(port, token, body)
        assert status in (200, 201), posted
        again_status, again = await _post(port, token, body)
        assert (again_status, again["repeated"]) == (200, True)
        assert again["posting"]["id"] == posted["posting"]["id"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    conn = sqlite3.connect(db)
    balances = conn.execute(
        "SELECT balance, count(*) FROM ledger_accounts WHERE kind = 'household' GROUP BY balance"
    ).fetchall()
    lines = conn.execute(
        "SELECT count(*) FROM ledger_lines l JOIN ledger_accounts a ON a.id = l.account_id"
        " WHERE a.kind = 'household'"
    ).fetchone()[0]
    conn.close()
    assert balances == [(POINTS, HOUSEHOLDS)]
    assert lines == HOUSEHOLDS
    verified = linli("passbook", "verify", "--db", str(db), cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
