"""`make bench`, check-in part: code lookups against 100,000 bookings, beside a bare server.

A lookup is what a gate scanner or door tablet does before it confirms a check-in:
GET /api/v1/checkins/{code} with an organiser's bearer token, answering the code's
booking, room, masked name, and whether it would be admitted now (status) or was checked
in already, without writing anything. Linli runs as a real `linli serve` process on a
database holding 100,000 bookings with their codes (inserted in the setup with plain
sqlite3 executemany; the setup is not measured). The baseline, in the same run with the
same client, is a bare aiohttp + aiosqlite process answering one primary-key SELECT on
checkin_codes as JSON. Each is measured at 4 concurrent clients (a few door tablets and
gate scanners) and at 64; the script prints throughput and p50/p99 latency for each.

    python -m tests.bench.checkin [--bookings N] [--lookups N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiosqlite
from aiohttp import web

from service.core.checkin_codes import new_code
from service.core.clock import to_db
from service.core.models import Role
from service.domain.auth import issue_token
from service.store import Store
from tests.bench.outbox import LINLI, PY, populate, process, wait_port
from tests.bench.rsvp import Figures
from tests.processes import free_port

LEVELS = (4, 64)
ROOMS = 20
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def line(figures: Figures, label: str) -> str:
    """One printed row: lookups per second and latency percentiles."""
    return (
        f"{label:<26} {figures.rate:>8.0f} lookups/s  p50 {figures.p50_ms:6.2f} ms"
        f"  p99 {figures.p99_ms:6.2f} ms"
    )


async def hammer(urls: list[str], clients: int, headers: dict[str, str]) -> Figures:
    """GET every URL with `clients` concurrent clients; each answer must be a 200."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def get(url: str) -> None:
            async with http.get(url) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{url}: HTTP {resp.status}")

        # Warm up connections and caches on a few, then measure the rest.
        await asyncio.gather(*(get(url) for url in urls[: clients * 4]))
        work = iter(urls[clients * 4 :])

        async def client() -> None:
            for url in work:
                started = time.perf_counter()
                await get(url)
                latencies.append(time.perf_counter() - started)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return Figures(
        rate=len(latencies) / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
    )


def measure(base: str, codes: list[str], lookups: int, headers: dict[str, str]) -> list[Figures]:
    """Figures at each concurrency level, each over its own random sample of codes."""
    pick = random.Random(7)
    return [
        asyncio.run(hammer([base + pick.choice(codes) for _ in range(lookups)], level, headers))
        for level in LEVELS
    ]


# ---------------------------------------------------------------- setup


def seed(db: Path, bookings: int) -> list[str]:
    """A community with ROOMS rooms and `bookings` confirmed bookings, each with a code;
    returns the codes."""
    populate(db, 1000, "email", lambda i: f"r{i}@example.org")
    stamp = to_db(NOW)
    codes: set[str] = set()
    while len(codes) < bookings:
        codes.add(new_code())
    ordered = list(codes)
    per_room = -(-bookings // ROOMS)
    rows = []
    # Newest first: the store's overlap trigger then finds no candidate rows to compare,
    # so the setup stays linear (the same bookings in time order would be quadratic).
    for i in reversed(range(bookings)):
        room, slot = divmod(i, per_room)
        start = NOW - timedelta(days=30) + timedelta(hours=slot)
        end = to_db(start + timedelta(minutes=50))
        rows.append(
            (i + 1, room + 1, i % 1000 + 1, to_db(start), end, end, stamp, stamp, ordered[i])
        )
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO rooms (id, name, capacity, created_at) VALUES (?, ?, 30, ?)",
            [(r + 1, f"活动室{r + 1}", stamp) for r in range(ROOMS)],
        )
        conn.executemany(
            "INSERT INTO bookings (id, room_id, resident_id, title, party_size, starts_at,"
            " ends_at, blocked_until, status, booked_by, created_at, updated_at)"
            " VALUES (?, ?, ?, '排练', 2, ?, ?, ?, 'confirmed', 'resident', ?, ?)",
            [row[:-1] for row in rows],
        )
        conn.executemany(
            "INSERT INTO checkin_codes (code, booking_id, created_at) VALUES (?, ?, ?)",
            [(row[-1], row[0], stamp) for row in rows],
        )
    conn.close()
    return ordered


async def _organiser_token(db: Path) -> str:
    async with Store(db) as store:
        _, token = await issue_token(store, role=Role.ORGANISER, name="bench", now=NOW)
    return token


# ---------------------------------------------------------------- the bare server


async def bare_server(port: int, db: Path) -> None:
    """aiohttp + aiosqlite: one primary-key SELECT per GET, answered as JSON."""
    conn = await aiosqlite.connect(db)
    conn.row_factory = aiosqlite.Row

    async def look_up(request: web.Request) -> web.Response:
        async with conn.execute(
            "SELECT code, booking_id, invitation_id FROM checkin_codes WHERE code = ?",
            (request.match_info["code"],),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise web.HTTPNotFound()
        return web.Response(text=json.dumps(dict(row)), content_type="application/json")

    app = web.Application()
    app.router.add_get("/c/{code}", look_up)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


def bare_run(db: Path, codes: list[str], lookups: int) -> list[Figures]:
    port = free_port()
    with process(PY, "-m", "tests.bench.checkin", "bare", str(port), str(db)):
        wait_port(port)
        return measure(f"http://127.0.0.1:{port}/c/", codes, lookups, {})


# ---------------------------------------------------------------- Linli


def linli_run(tmp: Path, db: Path, codes: list[str], lookups: int) -> list[Figures]:
    token = asyncio.run(_organiser_token(db))
    port = free_port()
    config = tmp / "checkin.toml"
    config.write_text('[server]\naccess_log = false\n[log]\nlevel = "WARNING"\n', "utf-8")
    with process(
        LINLI, "serve", "--config", str(config), "--db", str(db), "--port", str(port)
    ) as server:
        wait_port(port)
        figures = measure(
            f"http://127.0.0.1:{port}/api/v1/checkins/",
            codes,
            lookups,
            {"Authorization": f"Bearer {token}"},
        )
        if server.poll() is not None:
            raise RuntimeError("linli serve stopped during the run")
    return figures


def main() -> None:
    if sys.argv[1:2] == ["bare"]:
        asyncio.run(bare_server(int(sys.argv[2]), Path(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="linli-bench-checkin-") as name:
        tmp = Path(name)
        db = tmp / "linli.db"
        started = time.perf_counter()
        codes = seed(db, args.bookings)
        setup_s = time.perf_counter() - started
        bare = bare_run(db, codes, args.lookups)
        linli = linli_run(tmp, db, codes, args.lookups)
    print(
        f"Check-in lookups (GET a code), {args.bookings} bookings (setup {setup_s:.1f} s),"
        f" {args.lookups} lookups per level"
    )
    for level, bare_figures, linli_figures in zip(LEVELS, bare, linli, strict=True):
        print(line(bare_figures, f"bare PK lookup, {level} clients"))
        print(line(linli_figures, f"linli GET code, {level} clients"))
    low, high = linli[0], linli[-1]
    print(
        f"4 clients: linli p99 {low.p99_ms:.2f} ms (target < 10 ms);"
        f" 64 clients: linli {high.rate / bare[-1].rate:.1%} of bare (target >= 70%)"
    )


if __name__ == "__main__":
    main()
