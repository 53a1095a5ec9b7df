"""A crash loses nothing: the server is SIGKILLed halfway through sending 2,000 webhooks
and started again; every resident then has their message, and every duplicate carries
the same webhook-id as the first delivery."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp

from service.core.webhook_rules import new_secret
from tests.bench.outbox import populate
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.processes import free_port, wait_healthy

RECIPIENTS = 2000
LINLI = str(Path(sys.executable).parent / "linli")
ROOT = Path(__file__).resolve().parents[1]


def _config(tmp: Path, lease_s: float = 2.0) -> Path:
    config = tmp / "crash.toml"
    config.write_text(
        f"""
[server]
secret_file = "{tmp / "secret"}"
access_log = false
[delivery]
poll_interval_s = 0.05
# Short leases, so the restarted server reclaims the dead one's messages quickly.
lease_s = {lease_s}
[channels.file]
enabled = false
[channels.webhook]
enabled = true
allow_private = ["127.0.0.0/8"]
concurrency = 8
""",
        encoding="utf-8",
    )
    return config


def _serve(config: Path, db: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [LINLI, "serve", "--config", str(config), "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _token(config: Path, db: Path) -> str:
    # The server's config: its secret file seals the webhook secrets populate wrote.
    argv = [LINLI, "token", "create", "--role", "organiser", "--name", "t", "--db", str(db),
            "--config", str(config)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


async def _send_and_kill(
    hook: WebhookReceiver, config: Path, db: Path, port: int, event_id: int, total: int
) -> None:
    """Start the server, send the event to its `total` recipients, and SIGKILL the server
    once a third of them have their message."""
    token = await asyncio.to_thread(_token, config, db)
    # Slow answers keep the sending going long enough to be cut in the middle.
    hook.delay(0.01, times=total * 2)
    server = _serve(config, db, port)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/api/v1/events/{event_id}/send"
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(url, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["queued"] == total
        await hook.wait_for(total // 3, within_s=60)
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    assert len(hook.deliveries) < total, "the kill came too late to test anything"


async def _restart_until(
    hook: WebhookReceiver, config: Path, db: Path, port: int, total: int, *, within_s: float
) -> None:
    """Start the server again and stop it once all `total` messages have arrived."""
    server = _serve(config, db, port)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        await hook.wait_for(total, within_s=within_s)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


async def test_sigkill_halfway_loses_no_message(tmp_path: Path) -> None:
    secret = new_secret()
    db = tmp_path / "crash.db"
    async with WebhookReceiver(secret) as hook:
        event_id = await asyncio.to_thread(
            populate, db, RECIPIENTS, "webhook", lambda i: hook.url, secret
        )
        config = _config(tmp_path)
        port = free_port()
        await _send_and_kill(hook, config, db, port, event_id, RECIPIENTS)

        await _restart_until(hook, config, db, port, RECIPIENTS, within_s=120)

    conn = sqlite3.connect(db)
    uids = dict(conn.execute("SELECT uid, status FROM messages").fetchall())
    per_resident = conn.execute(
        "SELECT COUNT(*) FROM (SELECT resident_id FROM messages GROUP BY resident_id"
        " HAVING COUNT(*) = 1)"
    ).fetchone()[0]
    conn.close()
    assert len(uids) == RECIPIENTS and per_resident == RECIPIENTS  # one message each
    assert set(uids.values()) == {"delivered"}
    delivered = {d.id for d in hook.deliveries}
    assert delivered == set(uids)  # every resident's message arrived
    assert all(d.valid for d in hook.deliveries)
    # A message sent twice (in flight when the process died) came with its first id.
    assert {r.id for r in hook.requests} == delivered
    assert len(hook.requests) >= RECIPIENTS


async def test_a_restart_takes_back_the_dead_processs_claims_at_once(tmp_path: Path) -> None:
    # Leases of an hour: the messages the killed process had claimed would wait that long
    # for anyone to send them. The restarted server on the same machine sees that their
    # claimer's process is gone and sends them straight away.
    secret = new_secret()
    db = tmp_path / "crash.db"
    total = 400
    async with WebhookReceiver(secret) as hook:
        event_id = await asyncio.to_thread(
            populate, db, total, "webhook", lambda i: hook.url, secret
        )
        config = _config(tmp_path, lease_s=3600.0)
        port = free_port()
        await _send_and_kill(hook, config, db, port, event_id, total)
        conn = sqlite3.connect(db)
        [(leased,)] = conn.execute("SELECT COUNT(*) FROM messages WHERE status = 'sending'")
        conn.close()
        assert leased > 0, "the kill left no claimed message to test with"

        # Far within the hour's lease: all of them.
        await _restart_until(hook, config, db, port, total, within_s=60)
    assert {d.id for d in hook.deliveries} == {r.id for r in hook.requests}
    assert len({d.id for d in hook.deliveries}) == total
