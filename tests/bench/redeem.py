"""`make bench`, passbook part: redemptions at the points store over HTTP, beside the RSVP
bench's bare insert endpoint in the same run.

Linli runs as a real `linli serve` process on its durable default (WAL, synchronous=FULL)
with N households, each credited 1,000 points, and one item with stock for all; 64
concurrent clients each POST /api/v1/store/redemptions (one item, a fresh idempotency key)
for a different household. Each redemption checks the balance, the stock and the monthly
limit, takes the stock and writes the redemption and its balanced posting in one write
job. The baseline is tests/bench/rsvp.py's bare aiohttp + aiosqlite process (one INSERT
and one COMMIT per POST, synchronous=NORMAL). Prints postings per second and p50/p99.

    python -m tests.bench.redeem [--redemptions N] [--clients C]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from service.core.models import Role
from service.core.points import PassbookSettings
from service.domain import auth, passbook, points_store
from service.domain.passbook import BULK_MAX, Credit
from service.store import Store
from tests.bench.outbox import LINLI, populate, process, wait_port
from tests.bench.rsvp import CLIENTS, Figures, bare_run, hammer, with_cpu
from tests.processes import free_port

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


async def _seed(db: Path, secret_file: Path) -> tuple[str, int, list[int]]:
    """(an organiser's token, the item, the households), every household with 1,000 points."""
    async with Store(db, secret_file=secret_file) as store:
        homes = [int(r[0]) for r in await store.reader.fetchall("SELECT id FROM households")]
        for start in range(0, len(homes), BULK_MAX):
            await passbook.post_credits(
                store,
                [Credit(h, 1000) for h in homes[start : start + BULK_MAX]],
                kind="bonus",
                key=f"bench-seed-{start}",
                operator="bench",
                reason="bench",
                settings=PassbookSettings(),
                now=NOW,
            )
        item = await points_store.create_item(
            store, name="抽纸", price=5, stock=10 * len(homes) + 1000, monthly_limit=None, now=NOW
        )
        _, token = await auth.issue_token(store, role=Role.ORGANISER, name="bench", now=NOW)
    return token, item.id, homes


def linli_run(tmp: Path, n: int, clients: int) -> tuple[Figures, int]:
    db = tmp / "linli.db"
    secret_file = tmp / "secret"
    populate(db, 4 * (n + clients), "email", lambda i: f"r{i}@example.org")
    token, item, homes = asyncio.run(_seed(db, secret_file))
    port = free_port()
    config = tmp / "redeem.toml"
    config.write_text(
        f'[server]\nsecret_file = "{secret_file}"\naccess_log = false\n[log]\nlevel = "WARNING"\n',
        encoding="utf-8",
    )
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{port}/api/v1/store/redemptions"

    async def redeem(http: aiohttp.ClientSession, i: int, _url: str) -> int:
        body = {
            "idempotency_key": f"bench-{i}",
            "household_id": homes[i % len(homes)],
            "items": [{"item_id": item, "quantity": 1}],
        }
        async with http.post(url, json=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    with process(
        LINLI, "serve", "--config", str(config), "--db", str(db), "--port", str(port)
    ) as server:
        wait_port(port)
        figures = with_cpu(
            server.pid,
            n + clients,
            lambda: asyncio.run(hammer([url] * (n + clients), clients, redeem, ok=(201,))),
        )
        if server.poll() is not None:
            raise RuntimeError("linli serve stopped during the run")
    conn = sqlite3.connect(db)
    made = conn.execute("SELECT count(*) FROM ledger_postings WHERE kind = 'redeem'").fetchone()[0]
    conn.close()
    if made != n + clients:
        raise RuntimeError(f"only {made} of {n + clients} redemptions were posted")
    return figures, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redemptions", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="linli-bench-redeem-") as name:
        tmp = Path(name)
        bare = bare_run(tmp, args.redemptions, args.clients)
        linli, made = linli_run(tmp, args.redemptions, args.clients)
    print(f"Points store redemptions over HTTP, {args.redemptions}, {args.clients} clients")
    print(bare.line("bare insert (NORMAL)", "inserts"))
    print(linli.line("linli redeem (FULL)", "postings"))
    print(f"ratio {linli.rate / bare.rate:.1%}   target: linli >= 50% of bare ({made} posted)")


if __name__ == "__main__":
    main()
