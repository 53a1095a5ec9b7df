"""`make bench`: how fast Linli empties its outbox, beside a bare client in the same run.

For each channel it sends one event to N residents whose only contact is on that channel,
through a real `linli serve` process, and times from the POST /send until the sink has
accepted the last distinct message. The baseline is a bare client sending the same messages
to the same sink with the same concurrency: the sink keeps the first copy of each message
Linli delivered, and the bare client then sends exactly those, already rendered and signed:
aiohttp POSTs of the same bodies with the same webhook-* headers for webhooks, aiosmtplib
sending the same bytes to the same envelope for email. (A smaller stand-in message would
time a cheaper job than Linli's: an invitation email with its iCalendar part is several
times the bytes for aiosmtplib to stuff and send.) The sinks run as their own processes.
Peak RSS is the server's VmHWM from /proc (server plus worker with --separate-worker); CPU
is the user plus system time those processes spent from the POST to the last message.

    python -m tests.bench.outbox [--webhook N] [--email N] [--big N] [--override N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib

from service.core.webhook_rules import new_secret
from service.store import Store
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
LINLI = str(Path(PY).parent / "linli")
WEBHOOK_CONCURRENCY = 16
EMAIL_CONCURRENCY = 4
# --separate-worker: `linli serve` queues, `linli worker` sends (two processes, two cores).
SEPARATE_WORKER = False


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


@contextmanager
def process(*argv: str, env: dict[str, str] | None = None) -> Any:
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def sink_count(status_port: int) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{status_port}/count") as resp,
    ):
        return int((await resp.json())["unique"])


async def sink_reset(status_port: int, *, keep: bool = False) -> None:
    async with aiohttp.ClientSession() as http:
        await http.post(f"http://127.0.0.1:{status_port}/reset", params={"keep": str(int(keep))})


async def sink_kept(status_port: int) -> list[dict[str, Any]]:
    """The first copy of each message the sink accepted since a reset with keep."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{status_port}/kept") as resp,
    ):
        kept: list[dict[str, Any]] = await resp.json()
        return kept


async def until_count(status_port: int, n: int) -> None:
    deadline = time.monotonic() + 1800
    while await sink_count(status_port) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("the sink never saw every message")
        await asyncio.sleep(0.05)


async def bounded(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    """Run one(i) for i < n with `concurrency` workers."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def bare_webhooks(port: int, kept: list[dict[str, Any]]) -> float:
    """Seconds for a bare aiohttp client to POST the kept requests again."""
    url = f"http://127.0.0.1:{port}/hook"
    requests = [(copy["headers"], copy["body"].encode()) for copy in kept]
    connector = aiohttp.TCPConnector(limit=WEBHOOK_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        start = time.perf_counter()

        async def one(i: int) -> None:
            headers, body = requests[i]
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()

        await bounded(len(requests), WEBHOOK_CONCURRENCY, one)
        return time.perf_counter() - start


async def bare_email(port: int, kept: list[dict[str, Any]]) -> float:
    """Seconds for bare aiosmtplib clients (reusing connections) to send the kept messages
    again, as they were rendered."""
    messages = [(copy["from"], copy["to"], copy["content"].encode("latin-1")) for copy in kept]
    clients = []
    for _ in range(EMAIL_CONCURRENCY):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False)
        await client.connect()
        clients.append(client)
    start = time.perf_counter()
    pool: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
    for client in clients:
        pool.put_nowait(client)

    async def one(i: int) -> None:
        client = await pool.get()
        try:
            await client.sendmail(*messages[i])
        finally:
            pool.put_nowait(client)

    await bounded(len(messages), EMAIL_CONCURRENCY, one)
    elapsed = time.perf_counter() - start
    for client in clients:
        await client.quit()
    return elapsed


def populate(
    db: Path, n: int, channel: str, address: Callable[[int], str], secret: str | None = None
) -> int:
    """n residents, each with one contact, and a published event; returns the event id.
    Webhook contacts share `secret` (a new one when None)."""
    asyncio.run(_migrate(db))
    now = "2026-11-28T02:00:00.000000Z"
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO households (id, unit, building, created_at, updated_at)"
            " VALUES (?, ?, '1', ?, ?)",
            [(i + 1, f"1-{i // 100}-{i % 100}", now, now) for i in range((n + 3) // 4)],
        )
        conn.executemany(
            "INSERT INTO residents (id, household_id, name, language, created_at, updated_at)"
            " VALUES (?, ?, ?, 'zh-CN', ?, ?)",
            [(i + 1, i // 4 + 1, f"居民{i}", now, now) for i in range(n)],
        )
        if channel == "webhook":
            secret = secret or new_secret()
        conn.executemany(
            "INSERT INTO contacts (resident_id, channel, address, rank, created_at, signing_secret)"
            " VALUES (?, ?, ?, 0, ?, ?)",
            [(i + 1, channel, address(i), now, secret) for i in range(n)],
        )
        cur = conn.execute(
            "INSERT INTO events (kind, title, description, location, starts_at, ends_at, status,"
            " created_at, updated_at, published_at) VALUES ('flea_market', '跳蚤市场', '旧物交换',"
            " '中心广场', '2027-06-05T01:00:00.000000Z', '2027-06-05T04:00:00.000000Z',"
            " 'published', ?, ?, ?)",
            (now, now, now),
        )
        event_id = int(cur.lastrowid or 0)
    conn.close()
    return event_id


async def _migrate(db: Path) -> None:
    async with Store(db):
        pass


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    # CPU seconds the server (and worker) spent from the POST until the last message.
    cpu_seconds: float = float("nan")
    # The first copy of each message as the sink received it (when kept).
    kept: list[dict[str, Any]] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def linli_run(
    tmp: Path,
    n: int,
    channel: str,
    sink_port: int,
    status_port: int,
    address: Callable[[int], str],
    *,
    keep: bool = False,
) -> Run:
    db = tmp / f"{channel}-{n}.db"
    event_id = populate(db, n, channel, address)
    port = free_port()
    config = tmp / f"{channel}-{n}.toml"
    config.write_text(
        f"""
[server]
secret_file = "{tmp / "secret"}"
access_log = false
[log]
level = "WARNING"
[delivery]
poll_interval_s = 0.05
run_in_server = {str(not SEPARATE_WORKER).lower()}
[channels.file]
enabled = false
[channels.webhook]
enabled = {str(channel == "webhook").lower()}
allow_private = ["127.0.0.0/8"]
concurrency = {WEBHOOK_CONCURRENCY}
[channels.email]
enabled = {str(channel == "email").lower()}
host = "127.0.0.1"
port = {sink_port}
security = "none"
from_address = "linli@example.org"
concurrency = {EMAIL_CONCURRENCY}
""",
        encoding="utf-8",
    )
    token = subprocess.run(
        [
            LINLI,
            "token",
            "create",
            "--role",
            "organiser",
            "--name",
            "bench",
            "--db",
            str(db),
            "--config",
            str(config),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with ExitStack() as stack:
        server = stack.enter_context(
            process(LINLI, "serve", "--config", str(config), "--db", str(db), "--port", str(port))
        )
        worker = (
            stack.enter_context(process(LINLI, "worker", "--config", str(config), "--db", str(db)))
            if SEPARATE_WORKER
            else None
        )
        wait_port(port)

        async def go() -> float:
            await sink_reset(status_port, keep=keep)
            async with aiohttp.ClientSession() as http:
                start = time.perf_counter()
                async with http.post(
                    f"http://127.0.0.1:{port}/api/v1/events/{event_id}/send",
                    headers={"Authorization": f"Bearer {token}"},
                ) as resp:
                    report = await resp.json()
                    if resp.status != 200:
                        raise RuntimeError(f"send failed: {report}")
                queued = time.perf_counter() - start
                await until_count(status_port, n)
                print(f"  ({channel} {n}: queued in {queued:.2f} s)", flush=True)
                return time.perf_counter() - start

        pids = [server.pid] + ([worker.pid] if worker else [])
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        seconds = asyncio.run(go())
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        rss = sum(peak_rss_mb(pid) for pid in pids)
    kept = asyncio.run(sink_kept(status_port)) if keep else []
    return Run(seconds, rss, cpu, kept)


def line(label: str, n: int, linli: Run, bare_seconds: float | None) -> str:
    rate = n / linli.seconds
    cpu = f"  CPU {linli.cpu_seconds * 1e6 / n:4.0f} µs/msg"
    if bare_seconds is None:
        return (
            f"{label:<9} {n:>7}  linli {rate:>8.0f} msg/s  peak RSS {linli.peak_rss_mb:6.1f} MB"
            + cpu
        )
    bare = n / bare_seconds
    return (
        f"{label:<9} {n:>7}  linli {rate:>8.0f} msg/s  bare {bare:>8.0f} msg/s"
        f"  ratio {rate / bare:5.1%}  peak RSS {linli.peak_rss_mb:6.1f} MB" + cpu
    )


# An override like an organiser's: the resident's name and unit, the event, the link.
OVERRIDE = (
    "{% block text %}{{ resident.name }}（{{ resident.unit }}）：{{ event.title }} "
    "{{ event.start_text }}，{{ event.location }}。回复 {{ event.code }} 1 参加。"
    "{{ links.rsvp }}{% endblock %}"
)


def override_costs(n: int) -> str:
    """The rendering of an SMS invitation for n residents: the shipped template in-process
    through stencils, an override in-process (what the sandbox runs), and the override
    through the sandbox process in BATCH-sized round trips; CPU µs a message is the server
    process's own (the helper's is apart), with the rate in messages a second."""
    from service.messages.render import Renderer
    from service.messages.samples import sample_context
    from service.messages.sandbox import Job, TemplateSandbox
    from service.messages.stencil import Stencils

    renderer = Renderer()
    contexts = []
    for i in range(n):
        context = sample_context("zh-CN")
        context["resident"].update(id=i + 1, name=f"居民{i}", unit=f"3-2-{1000 + i}")
        contexts.append(context)

    def timed(label: str, run: Callable[[], object]) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return f"  {label:<34} {cpu / n * 1e6:8.1f} µs CPU/message {n / wall:10,.0f} messages/s"

    def shipped() -> None:
        stencils = Stencils(renderer)
        for c in contexts:
            stencils.render("invitation", "sms", "zh-CN", c)

    def in_process() -> None:
        for c in contexts:
            renderer.render("invitation", "sms", "zh-CN", c, source=OVERRIDE)

    async def sandboxed() -> list[str]:
        sandbox = TemplateSandbox()
        jobs = [Job("invitation", "sms", "zh-CN", OVERRIDE, c) for c in contexts]
        async with sandbox.running():
            await sandbox.render_many(jobs[:1])  # the helper started, the template compiled
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, n, 500):  # a send's batch of 500 residents
                await sandbox.render_many(jobs[start : start + 500])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            return [
                f"  {'override, sandbox process':<34} {cpu / n * 1e6:8.1f} µs CPU/message"
                f" {n / wall:10,.0f} messages/s"
            ]

    rows = [f"rendering {n:,} SMS invitations (server process CPU):"]
    rows.append(timed("shipped template, stencils", shipped))
    rows.append(timed("override, in-process", in_process))
    rows.extend(asyncio.run(sandboxed()))
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhook", type=int, default=10_000)
    parser.add_argument("--email", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="run the delivery worker as its own process (linli worker) beside linli serve",
    )
    parser.add_argument(
        "--override",
        type=int,
        default=5_000,
        help="residents whose SMS is rendered from an override, in-process and in the sandbox",
    )
    args = parser.parse_args()
    if args.override:
        print(override_costs(args.override), flush=True)
    global SEPARATE_WORKER
    SEPARATE_WORKER = args.separate_worker
    results: list[str] = []
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as name:
        tmp = Path(name)
        env = dict(os.environ)
        hook_port = free_port()
        with process(PY, "-m", "tests.bench.sinks", "webhook", str(hook_port), env=env):
            wait_port(hook_port)
            url = f"http://127.0.0.1:{hook_port}/hook"
            if args.webhook:
                run = linli_run(
                    tmp, args.webhook, "webhook", hook_port, hook_port, lambda i: url, keep=True
                )
                bare = asyncio.run(bare_webhooks(hook_port, run.kept))
                results.append(line("webhook", args.webhook, run, bare))
                print(results[-1], flush=True)
            if args.big:
                run = linli_run(tmp, args.big, "webhook", hook_port, hook_port, lambda i: url)
                results.append(line("webhook", args.big, run, None))
                print(results[-1], flush=True)
        smtp_port, status_port = free_port(), free_port()
        if args.email:
            with process(
                PY, "-m", "tests.bench.sinks", "smtp", str(smtp_port), str(status_port), env=env
            ):
                wait_port(smtp_port)
                wait_port(status_port)
                run = linli_run(
                    tmp,
                    args.email,
                    "email",
                    smtp_port,
                    status_port,
                    lambda i: f"r{i}@example.org",
                    keep=True,
                )
                bare = asyncio.run(bare_email(smtp_port, run.kept))
                results.append(line("email", args.email, run, bare))
                print(results[-1], flush=True)
    print("\nTargets: linli >= 50% of bare per channel; peak RSS < 200 MB at 100,000 recipients.")


if __name__ == "__main__":
    main()
