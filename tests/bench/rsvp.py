"""`make bench`, RSVP part: residents answering by link POST, beside a bare endpoint.

Linli runs as a real `linli serve` process on its durable default (WAL, synchronous=FULL)
with N invited residents; 64 concurrent clients each POST the RSVP form (yes, party of 1,
a fresh nonce) to a different resident's /r/{token}. The baseline, measured in the same
run with the same client, is a bare aiohttp + aiosqlite process whose POST inserts one row
per request with a commit per request (WAL, synchronous=NORMAL). Both run as their own
processes; the script prints throughput and p50/p99 latency for each.

    python -m tests.bench.rsvp [--answers N] [--clients C]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import aiosqlite
from aiohttp import web

from service.core.secret import load_or_create
from service.messages.links import rsvp_token
from tests.bench.outbox import LINLI, PY, cpu_seconds, populate, process, wait_port
from tests.processes import free_port

CLIENTS = 64


@dataclass(frozen=True)
class Figures:
    """Requests per second and latency percentiles of one run."""

    rate: float
    p50_ms: float
    p99_ms: float
    # The server process's CPU per request (user + system), when measured: steadier than
    # the rate on a shared machine.
    cpu_us: float = float("nan")

    def line(self, label: str, unit: str = "answers") -> str:
        cpu = "" if math.isnan(self.cpu_us) else f"  CPU {self.cpu_us:5.0f} µs/req"
        return (
            f"{label:<22} {self.rate:>8.0f} {unit}/s  p50 {self.p50_ms:6.1f} ms"
            f"  p99 {self.p99_ms:6.1f} ms{cpu}"
        )


Send = Callable[[aiohttp.ClientSession, int, str], Awaitable[int]]


async def post_form(http: aiohttp.ClientSession, i: int, url: str) -> int:
    """POST the RSVP form (yes, party of 1, a fresh nonce); the HTTP status."""
    form = {"answer": "yes", "party_size": "1", "nonce": f"bench-{i}"}
    async with http.post(url, data=form, allow_redirects=False) as resp:
        await resp.read()
        return resp.status


async def hammer(
    urls: list[str], clients: int, send: Send = post_form, ok: tuple[int, ...] = (200, 303)
) -> Figures:
    """`send` a request to every URL with `clients` concurrent clients (the first
    `clients` of them warm both sides up and are not measured)."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:
        work = iter(enumerate(urls))

        async def client() -> None:
            for i, url in work:
                started = time.perf_counter()
                status = await send(http, i, url)
                if status not in ok:
                    raise RuntimeError(f"{url}: HTTP {status}")
                latencies.append(time.perf_counter() - started)

        # Warm both sides up (connections, caches) on the first few, then measure the rest.
        warm = [next(work) for _ in range(min(clients, len(urls)))]
        await asyncio.gather(*(send(http, i, url) for i, url in warm))
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return Figures(
        rate=len(latencies) / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
    )


# ---------------------------------------------------------------- the bare endpoint


async def bare_server(port: int, db: Path) -> None:
    """aiohttp + aiosqlite: one INSERT and one COMMIT per POST (WAL, synchronous=NORMAL)."""
    conn = await aiosqlite.connect(db)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY, token TEXT, answer TEXT,"
        " party_size INTEGER, nonce TEXT)"
    )
    await conn.commit()

    async def answer(request: web.Request) -> web.Response:
        form = await request.post()
        await conn.execute(
            "INSERT INTO answers (token, answer, party_size, nonce) VALUES (?, ?, ?, ?)",
            (
                request.match_info["token"],
                str(form.get("answer", "")),
                int(str(form.get("party_size", "1"))),
                str(form.get("nonce", "")),
            ),
        )
        await conn.commit()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/r/{token}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


def bare_run(tmp: Path, n: int, clients: int) -> Figures:
    port = free_port()
    db = tmp / "bare.db"
    with process(PY, "-m", "tests.bench.rsvp", "bare", str(port), str(db)) as server:
        wait_port(port)
        urls = [f"http://127.0.0.1:{port}/r/token{i}" for i in range(n)]
        return with_cpu(server.pid, len(urls), lambda: asyncio.run(hammer(urls, clients)))


def with_cpu(pid: int, requests: int, run: Callable[[], Figures]) -> Figures:
    """`run`'s figures with the CPU the server process `pid` spent per request."""
    before = cpu_seconds(pid)
    figures = run()
    return replace(figures, cpu_us=(cpu_seconds(pid) - before) * 1e6 / requests)


# ---------------------------------------------------------------- Linli


def invite_everyone(db: Path, event_id: int) -> list[int]:
    """Invitations for every resident (what /send would make, without the messages)."""
    now = "2026-11-28T02:00:00.000000Z"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO invitations (event_id, resident_id, created_at, updated_at)"
            " SELECT ?, id, ?, ? FROM residents",
            (event_id, now, now),
        )
        ids = [row[0] for row in conn.execute("SELECT id FROM residents ORDER BY id")]
    conn.close()
    return ids


def linli_run(tmp: Path, n: int, clients: int) -> Figures:
    db = tmp / "linli.db"
    event_id = populate(db, n + clients, "email", lambda i: f"r{i}@example.org")
    residents = invite_everyone(db, event_id)
    secret_file = tmp / "secret"
    key = load_or_create(secret_file)
    port = free_port()
    config = tmp / "rsvp.toml"
    config.write_text(
        f"""
[server]
secret_file = "{secret_file}"
access_log = false
[log]
level = "WARNING"
""",
        encoding="utf-8",
    )
    with process(
        LINLI, "serve", "--config", str(config), "--db", str(db), "--port", str(port)
    ) as server:
        wait_port(port)
        urls = [f"http://127.0.0.1:{port}/r/{rsvp_token(key, event_id, rid)}" for rid in residents]
        figures = asyncio.run(hammer(urls, clients))
        if server.poll() is not None:
            raise RuntimeError("linli serve stopped during the run")
    conn = sqlite3.connect(db)
    yes = conn.execute("SELECT COUNT(*) FROM invitations WHERE answer = 'yes'").fetchone()[0]
    conn.close()
    if yes != len(residents):
        raise RuntimeError(f"only {yes} of {len(residents)} answers were recorded")
    return figures


def main() -> None:
    if sys.argv[1:2] == ["bare"]:
        asyncio.run(bare_server(int(sys.argv[2]), Path(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="linli-bench-rsvp-") as name:
        tmp = Path(name)
        bare = bare_run(tmp, args.answers, args.clients)
        linli = linli_run(tmp, args.answers, args.clients)
    print(f"RSVP by link POST, {args.answers} answers, {args.clients} concurrent clients")
    print(bare.line("bare (NORMAL, commit/req)"))
    print(linli.line("linli (FULL, group commit)"))
    print(f"ratio {linli.rate / bare.rate:.1%}   target: linli >= 50% of bare")


if __name__ == "__main__":
    main()
