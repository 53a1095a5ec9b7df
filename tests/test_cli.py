"""The `linli` command line, run as a real process."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from service.domain.auth import TOKEN_PREFIX, hash_token
from tests.community import eventually
from tests.processes import free_port, linli, wait_healthy


def test_cli_help_for_each_command(tmp_path: Path) -> None:
    for command in (
        [],
        ["serve"],
        ["demo"],
        ["token", "create"],
        ["staff", "password"],
        ["staff", "list"],
        ["staff", "disable"],
        ["token", "list"],
        ["token", "revoke"],
        ["backup"],
        ["secrets", "rotate"],
    ):
        done = linli(*command, "--help", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "usage: linli" in done.stdout


def test_cli_token_create_prints_only_the_token_and_stores_its_hash(tmp_path: Path) -> None:
    db = tmp_path / "linli.db"
    done = linli("token", "create", "--role", "admin", "--name", "管理员", "--db", str(db),
                 cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n"
    assert token.startswith(TOKEN_PREFIX) and len(token) >= 40
    conn = sqlite3.connect(db)
    stored = conn.execute("SELECT token_hash, role FROM api_tokens").fetchall()
    conn.close()
    assert stored == [(hash_token(token), "admin")]
    assert token not in db.read_bytes().decode("latin-1")


def test_cli_door_token_needs_an_existing_room(tmp_path: Path) -> None:
    db = str(tmp_path / "linli.db")
    done = linli("token", "create", "--role", "door", "--name", "门口", "--db", db, cwd=tmp_path)
    assert done.returncode == 1
    assert "room" in done.stderr and done.stdout == ""
    done = linli("token", "create", "--role", "door", "--name", "门口", "--room", "没有这间",
                 "--db", db, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1 and "room_not_found" in done.stderr


def test_cli_staff_password_sets_a_console_sign_in(tmp_path: Path) -> None:
    db = str(tmp_path / "linli.db")
    done = linli("staff", "password", "Wang", "--name", "王组织", "--db", db, cwd=tmp_path,
                 stdin="a long enough password\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "a long enough password" not in done.stdout + done.stderr
    row = (
        sqlite3.connect(db).execute("SELECT name, role, login, password_hash FROM staff").fetchone()
    )
    assert row[:3] == ("王组织", "organiser", "wang") and row[3].startswith("$argon2id$")
    short = linli("staff", "password", "li", "--db", db, cwd=tmp_path, stdin="short\n")
    assert short.returncode == 1 and "password_too_short" in short.stderr


def test_cli_demo_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "var" / "linli.db"
    first = linli("demo", "--db", str(db), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    conn = sqlite3.connect(db)

    def counts() -> tuple[int, ...]:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("households", "residents", "contacts", "rooms", "events", "api_tokens")
        )

    before = counts()
    households, residents, _, room_count, event_count, _ = before
    assert households == 60 and 90 <= residents <= 110
    assert room_count == 1 and event_count == 3
    buildings = conn.execute("SELECT count(DISTINCT building) FROM households").fetchone()[0]
    assert buildings == 3
    statuses = {s for (s,) in conn.execute("SELECT status FROM events")}
    assert statuses == {"published"}
    token = (tmp_path / "var" / "linli.demo-organiser.token").read_text().strip()
    assert f"Demo organiser token: {token}" in first.stdout
    door = (tmp_path / "var" / "linli.demo-door.token").read_text().strip()
    assert f"/tablet?token={door}" in first.stdout
    role, room = conn.execute(
        "SELECT t.role, r.name FROM api_tokens t JOIN rooms r ON r.id = t.room_id"
    ).fetchone()
    assert (role, room) == ("door", "活动室")

    second = linli("demo", "--db", str(db), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert counts() == before
    assert f"Demo organiser token: {token}" in second.stdout
    assert f"/tablet?token={door}" in second.stdout
    password = (tmp_path / "var" / "linli.demo-console.password").read_text().strip()
    assert "/console" in first.stdout
    for run in (first, second):  # the same console password both times
        assert f"sign in as: demo   password: {password}" in run.stdout
    conn.close()


def test_cli_two_demo_databases_keep_two_sets_of_credentials(tmp_path: Path) -> None:
    var = tmp_path / "var"
    runs = {name: linli("demo", "--db", str(var / f"{name}.db"), cwd=tmp_path)
            for name in ("linli", "other")}  # fmt: skip
    again = linli("demo", "--db", str(var / "linli.db"), cwd=tmp_path)
    for done in (*runs.values(), again):
        assert done.returncode == 0, done.stderr
    kept: dict[str, tuple[str, ...]] = {}
    for name, done in runs.items():
        files = [var / f"{name}.demo-{what}" for what in
                 ("organiser.token", "door.token", "console.password")]  # fmt: skip
        kept[name] = tuple(path.read_text().strip() for path in files)
        token, door, password = kept[name]
        assert f"Demo organiser token: {token}" in done.stdout
        assert f"/tablet?token={door}" in done.stdout
        assert f"password: {password}" in done.stdout
        assert all(str(path) in done.stdout for path in files)
        conn = sqlite3.connect(var / f"{name}.db")
        hashes = {h for (h,) in conn.execute("SELECT token_hash FROM api_tokens")}
        conn.close()
        assert {hash_token(token), hash_token(door)} <= hashes
    assert set(kept["linli"]).isdisjoint(kept["other"])
    # The first database's demo, run again after the second, still has its own credentials.
    token, door, password = kept["linli"]
    assert f"Demo organiser token: {token}" in again.stdout
    assert f"password: {password}" in again.stdout
    assert not (var / "demo-organiser.token").exists()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`linli demo` then `linli serve` as real processes; yields (base URL, token)."""
    db = str(tmp_path / "var" / "linli.db")
    demo = linli("demo", "--db", db, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    token = (tmp_path / "var" / "linli.demo-organiser.token").read_text().strip()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--db", db, "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first_line
        yield f"http://127.0.0.1:{port}", token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_cli_serve_creates_publishes_and_lists_an_event(server: tuple[str, str]) -> None:
    base, token = server
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        await wait_healthy(base)
        body = {
            "kind": "activity",
            "title": "周末亲子手工",
            "starts_at": "2027-01-09T14:00",
            "ends_at": "2027-01-09T16:00",
            "capacity": 20,
        }
        async with session.post(f"{base}/api/v1/events", json=body) as resp:
            assert resp.status == 201, await resp.text()
            event = await resp.json()
        assert event["starts_at"] == "2027-01-09T14:00:00+08:00"
        async with session.post(f"{base}/api/v1/events/{event['id']}/publish") as resp:
            assert resp.status == 200
        async with session.get(f"{base}/api/v1/events", params={"status": "published"}) as resp:
            listed = await resp.json()
        titles = [e["title"] for e in listed["items"]]
        assert "周末亲子手工" in titles and len(titles) == 4


class _Writer(threading.Thread):
    """A second program writing to the database on its own connection, one commit at a
    time, until told to stop: the load a busy server puts beside `linli backup`."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.stop = threading.Event()
        self.commits = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            while not self.stop.is_set():
                conn.execute(
                    "INSERT INTO rooms (name, capacity, created_at) VALUES (?, 1, 'now')",
                    (f"late-{self.commits}",),
                )
                self.commits += 1
                # Paced, so the load is steady rather than a spin that starves the backup
                # of CPU: about 200 commits a second, over twice what broke it before.
                self.stop.wait(0.005)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            conn.close()


def test_cli_backup_finishes_under_a_steady_write_load(tmp_path: Path) -> None:
    db = tmp_path / "linli.db"
    made = linli("token", "create", "--role", "admin", "--name", "管理员", "--db", str(db),
                 cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO rooms (name, capacity, created_at) VALUES (?, 1, 'now')",
            [
                (f"early-{i}-" + "房" * 200,) for i in range(30000)
            ],  # about 40 MB: many steps of 1,024 pages
        )
    writer = _Writer(db)
    writer.start()
    try:
        while writer.commits < 20 and writer.is_alive():  # the load is running
            writer.stop.wait(0.01)
        target = tmp_path / "backups" / "linli-copy.db"
        done = linli("backup", str(target), "--db", str(db), cwd=tmp_path)
        during = writer.commits
    finally:
        writer.stop.set()
        writer.join()
    assert writer.error is None
    assert done.returncode == 0, done.stderr
    assert during > 20  # writes kept coming while it ran
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert (
        copy.execute("SELECT count(*) FROM rooms WHERE name LIKE 'early-%'").fetchone()[0] == 30000
    )
    copy.close()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["linli-copy.db"]


def test_cli_backup_that_fails_leaves_no_file_behind(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database, " * 512)
    target = tmp_path / "backups" / "copy.db"
    done = linli("backup", str(target), "--db", str(broken), cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "backup" in done.stderr
    assert list(target.parent.iterdir()) == []


def _rows(done: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    """A list command's tab-separated lines, by its header."""
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


def test_cli_token_list_shows_each_token_but_never_its_secret(tmp_path: Path) -> None:
    db = str(tmp_path / "var" / "linli.db")
    assert linli("demo", "--db", db, cwd=tmp_path).returncode == 0
    made = linli("token", "create", "--role", "admin", "--name", "管理员", "--db", db,
                 cwd=tmp_path)  # fmt: skip
    admin = made.stdout.strip()
    organiser = (tmp_path / "var" / "linli.demo-organiser.token").read_text().strip()
    door = (tmp_path / "var" / "linli.demo-door.token").read_text().strip()
    listed = linli("token", "list", "--db", db, cwd=tmp_path)
    rows = _rows(listed)
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"演示组织者", "活动室门口平板", "管理员"}
    assert by_name["活动室门口平板"]["role"] == "door"
    assert by_name["活动室门口平板"]["room"] == "活动室"
    assert by_name["管理员"]["room"] == "-" and by_name["管理员"]["state"] == "active"
    assert by_name["管理员"]["last used"] == "-"
    assert all(row["created"][:2] == "20" for row in rows)
    for secret in (admin, organiser, door):
        assert secret not in listed.stdout
        assert secret[4:12] not in listed.stdout  # not even a piece of it
        assert hash_token(secret) not in listed.stdout


def test_cli_token_revoke_by_id_or_name_and_twice(tmp_path: Path) -> None:
    db = str(tmp_path / "linli.db")
    tokens = [
        linli("token", "create", "--role", "organiser", "--name", name, "--db", db,
              cwd=tmp_path).stdout.strip()
        for name in ("王组织", "王组织", "李组织")
    ]  # fmt: skip
    ids = {row["name"] + row["id"]: row["id"] for row in _rows(linli("token", "list", "--db", db,
                                                                     cwd=tmp_path))}  # fmt: skip
    li_id = next(value for key, value in ids.items() if key.startswith("李"))
    by_id = linli("token", "revoke", li_id, "--db", db, cwd=tmp_path)
    assert by_id.returncode == 0, by_id.stderr
    assert f"token {li_id} (李组织) revoked" in by_id.stderr
    by_name = linli("token", "revoke", "王组织", "--db", db, cwd=tmp_path)
    assert by_name.returncode == 0 and by_name.stderr.count("revoked") == 2
    states = {row["name"]: row["state"] for row in _rows(linli("token", "list", "--db", db,
                                                               cwd=tmp_path))}  # fmt: skip
    assert all(state.startswith("revoked 20") for state in states.values())
    twice = linli("token", "revoke", li_id, "--db", db, cwd=tmp_path)
    assert twice.returncode == 0 and "already revoked" in twice.stderr
    unknown = linli("token", "revoke", "没有这人", "--db", db, cwd=tmp_path)
    assert unknown.returncode == 1 and "token_not_found" in unknown.stderr
    conn = sqlite3.connect(db)
    working = conn.execute("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL").fetchone()
    conn.close()
    assert working == (0,) and len(set(tokens)) == 3


async def test_cli_revoked_token_and_disabled_staff_are_refused_by_the_running_server(
    server: tuple[str, str], tmp_path: Path
) -> None:
    base, token = server
    db = str(tmp_path / "var" / "linli.db")
    await wait_healthy(base)
    password = "a long enough password"
    made = linli("staff", "password", "wang", "--name", "王组织", "--db", db, cwd=tmp_path,
                 stdin=password + "\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    wang_token = linli("token", "create", "--role", "organiser", "--name", "王组织", "--db", db,
                       cwd=tmp_path).stdout.strip()  # fmt: skip
    # unsafe: keep cookies of an IP address (127.0.0.1), as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:

        async def status(bearer: str) -> int:
            headers = {"Authorization": f"Bearer {bearer}"}
            async with http.get(f"{base}/api/v1/events", headers=headers) as resp:
                return resp.status

        async def sign_in() -> int:
            async with http.get(f"{base}/console/sign-in") as resp:
                assert resp.status == 200
            signin = http.cookie_jar.filter_cookies(URL(f"{base}/console/sign-in"))
            csrf = signin["linli_signin"].value
            form = {"login": "wang", "password": password, "csrf": csrf, "next": "/console"}
            async with http.post(f"{base}/console/sign-in", data=form,
                                 allow_redirects=False) as resp:  # fmt: skip
                return resp.status

        assert await status(token) == 200 and await status(wang_token) == 200
        assert await sign_in() == 303
        async with http.get(f"{base}/console", allow_redirects=False) as resp:
            assert resp.status == 200  # signed in

        ids = _rows(linli("token", "list", "--db", db, cwd=tmp_path))
        demo_id = next(row["id"] for row in ids if row["name"] == "演示组织者")
        assert linli("token", "revoke", demo_id, "--db", db, cwd=tmp_path).returncode == 0
        # The server's token cache forgets a token revoked by another process within 1 s.
        await eventually(lambda: status(token), lambda s: s == 401, "refused the revoked token")

        disabled = linli("staff", "disable", "wang", "--db", db, cwd=tmp_path)
        assert disabled.returncode == 0, disabled.stderr
        assert "1 API token(s) revoked" in disabled.stderr
        async with http.get(f"{base}/console", allow_redirects=False) as resp:
            assert resp.status == 303  # the session ended: back to sign-in
        await eventually(lambda: status(wang_token), lambda s: s == 401, "refused wang's token")
        assert await sign_in() == 401

        twice = linli("staff", "disable", "wang", "--db", db, cwd=tmp_path)
        assert twice.returncode == 0 and "already disabled" in twice.stderr
        rows = {row["login"]: row for row in _rows(linli("staff", "list", "--db", db,
                                                         cwd=tmp_path))}  # fmt: skip
        assert rows["wang"]["name"] == "王组织" and rows["wang"]["disabled"].startswith("20")
        assert rows["demo"]["disabled"] == "no" and rows["demo"]["role"] == "organiser"
        assert "argon2" not in str(rows)
        unknown = linli("staff", "disable", "nobody", "--db", db, cwd=tmp_path)
        assert unknown.returncode == 1 and "staff_not_found" in unknown.stderr

        again = linli("staff", "password", "wang", "--db", db, cwd=tmp_path,
                      stdin="another long password\n")  # fmt: skip
        assert again.returncode == 0, again.stderr
        password = "another long password"
        assert await sign_in() == 303  # a new password enables them again
