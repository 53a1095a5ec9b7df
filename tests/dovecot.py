"""A real IMAP server for the IMAP reader's tests: Debian's Dovecot (`dovecot-imapd`,
which `make test` installs when missing, as it does Chromium), started in the foreground
on a free 127.0.0.1 port with its own configuration, a passwd-file in tmp_path and
Maildir storage, and stopped (by its own PID) after the test.

It runs as the test user, everything in tmp_path. Dovecot never gives mail access to
UID 0 and reads its passwd-file from an unprivileged process, so when the tests run as
root (a CI container) the mailbox belongs to `nobody` and Dovecot's files sit in a
world-readable folder of their own (removed afterwards) instead of root's private
tmp_path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aioimaplib  # type: ignore[import-untyped]

USER = "linli"
PASSWORD = "imap-test-password"
NOT_INSTALLED = (
    "the IMAP tests need Dovecot: run `make test` (as root it installs it), or"
    " `sudo apt-get install -y --no-install-recommends dovecot-imapd`, or set DOVECOT_PATH"
)


def dovecot_binary() -> str:
    """$DOVECOT_PATH, else `dovecot` on PATH or in /usr/sbin."""
    found = os.environ.get("DOVECOT_PATH") or shutil.which("dovecot")
    if not found and os.access("/usr/sbin/dovecot", os.X_OK):
        found = "/usr/sbin/dovecot"
    if not found:
        raise RuntimeError(NOT_INSTALLED)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Dovecot:
    """A running Dovecot: where it listens and how to log in."""

    host: str
    port: int
    user: str = USER
    password: str = PASSWORD

    async def client(self) -> aioimaplib.IMAP4:
        """A logged-in client, for the test to put mail in the mailbox."""
        client = aioimaplib.IMAP4(self.host, self.port, timeout=10)
        await client.wait_hello_from_server()
        response = await client.login(self.user, self.password)
        assert response.result == "OK", response
        return client

    async def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in the mailbox, as the mail server would on delivery."""
        client = await self.client()
        try:
            response = await client.append(raw, mailbox=folder)
            assert response.result == "OK", response
        finally:
            await client.logout()

    async def uids(self, folder: str = "INBOX") -> list[int]:
        """The UIDs in the folder now."""
        client = await self.client()
        try:
            await client.select(folder)
            found = await client.uid_search("ALL", charset=None)
            return [int(n) for line in found.lines[:-1] for n in bytes(line).split()]
        finally:
            await client.logout()


def _config(root: Path, mail: Path, port: int, uid: int, gid: int, login_user: str) -> str:
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
first_valid_gid = 1
default_login_user = {login_user}
default_internal_user = {login_user}
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextlib.asynccontextmanager
async def running_dovecot(tmp_path: Path) -> AsyncIterator[Dovecot]:
    """Dovecot on a free port until the block ends."""
    binary = dovecot_binary()
    cleanup: Path | None = None
    if os.getuid() == 0:
        owner = pwd.getpwnam("nobody")
        uid, gid = owner.pw_uid, owner.pw_gid
        # The unprivileged user Debian's package makes for login and auth processes.
        login_user = "dovenull" if _exists("dovenull") else "nobody"
        # pytest's tmp_path is private to root, and those processes must read in here.
        cleanup = Path(tempfile.mkdtemp(prefix="linli-dovecot-"))
        cleanup.chmod(0o755)
        root = cleanup
    else:
        me = pwd.getpwuid(os.getuid())
        uid, gid, login_user = me.pw_uid, me.pw_gid, me.pw_name
        root = tmp_path / "dovecot"
    (root / "run").mkdir(parents=True)
    (root / "state").mkdir()
    mail = root / "mail"
    mail.mkdir()
    os.chown(mail, uid, gid)
    passwd = root / "passwd"
    passwd.write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
    passwd.chmod(0o644)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, mail, port, uid, gid, login_user), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        binary, "-F", "-c", str(conf), stdout=asyncio.subprocess.DEVNULL
    )
    try:
        await _listening(port, process, root)
        yield Dovecot("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


async def _listening(port: int, process: asyncio.subprocess.Process, root: Path) -> None:
    """Return once Dovecot accepts connections; fail with its log if it stops."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        if process.returncode is not None:
            path = root / "dovecot.log"
            log = path.read_text(errors="replace") if path.exists() else ""
            raise RuntimeError(f"dovecot stopped ({process.returncode}): {log}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise AssertionError("dovecot never listened") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
