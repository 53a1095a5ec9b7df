"""The IMAP reader: reads an ordinary mailbox (QQ, 163, Exchange …) that receives the
reply address's mail, with aioimaplib. It remembers the folder's UIDVALIDITY and the last
UID it acted on (store/mailin.py), so each message is read once even across restarts, and
a changed UIDVALIDITY reads the folder again (each message still applies once, by its
Message-ID). It fetches with BODY.PEEK[] (no \\Seen flag set), waits with IDLE when the
server offers it and polls otherwise, and deletes nothing unless imap_delete says so. A
lost connection or a refused login is logged and tried again, later each time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Final

import aioimaplib  # type: ignore[import-untyped]  # aioimaplib ships no type information

from ..core.clock import Clock
from ..core.mail_settings import MailInSettings
from ..domain.calendar_replies import ReplyOptions, receive_mail
from ..domain.followups import Followups
from ..store import Store, Tx
from ..store import mailin as sql

log = logging.getLogger("linli.mail")

_UIDVALIDITY: Final = re.compile(rb"UIDVALIDITY (\d+)")
# Waits after a failed session: 1 s, 2 s, 4 s … up to five minutes.
_BACKOFF_MAX_S: Final = 300.0


class ImapError(Exception):
    """The server said NO or BAD."""


class ImapReader:
    """One mailbox folder, read until cancelled."""

    def __init__(
        self,
        settings: MailInSettings,
        store: Store,
        options: ReplyOptions,
        followups: Followups,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.options = options
        self.followups = followups
        self.clock = clock
        self.mailbox = f"{settings.imap_username}@{settings.imap_host}/{settings.imap_folder}"
        # Sessions that read the folder to its end (tests and /metrics may look).
        self.passes = 0

    async def run(self) -> None:
        """Sessions one after another; a failure waits longer each time, up to 5 min."""
        delay = 1.0
        while True:
            try:
                await self.session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network, server or parse trouble: retried later
                log.warning("imap %s: %s; trying again in %.0f s", self.mailbox, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX_S)

    async def session(self) -> None:
        """Log in, then read new mail and wait for more until the connection fails."""
        settings = self.settings
        if settings.imap_security == "tls":
            client = aioimaplib.IMAP4_SSL(
                settings.imap_host, settings.imap_port, timeout=settings.imap_timeout_s
            )
        else:
            client = aioimaplib.IMAP4(
                settings.imap_host, settings.imap_port, timeout=settings.imap_timeout_s
            )
        await client.wait_hello_from_server()
        _ok(await client.login(settings.imap_username, settings.imap_password), "LOGIN")
        try:
            while True:
                await self.read_new(client)
                self.passes += 1
                if settings.imap_idle and client.has_capability("IDLE"):
                    await self._idle(client)
                else:
                    await asyncio.sleep(settings.imap_poll_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.logout(), settings.imap_timeout_s)

    async def read_new(self, client: aioimaplib.IMAP4) -> int:
        """Act on every message after the last UID read; how many there were."""
        selected = _ok(await client.select(self.settings.imap_folder), "SELECT")
        found = _UIDVALIDITY.search(b" ".join(_lines(selected)))
        uidvalidity = int(found.group(1)) if found else 0
        cursor = await sql.cursor(self.store.reader, self.mailbox)
        last = cursor[1] if cursor is not None and cursor[0] == uidvalidity else 0
        if cursor is not None and cursor[0] != uidvalidity:
            log.warning("imap %s: UIDVALIDITY changed; reading the folder again", self.mailbox)
        searched = _ok(await client.uid_search(f"UID {last + 1}:*", charset=None), "SEARCH")
        # "UID n:*" names the last message even when its UID is below n (RFC 3501 6.4.8).
        uids = sorted(
            {int(n) for line in _lines(searched) for n in line.split() if n.isdigit()} - {0}
        )
        uids = [uid for uid in uids if uid > last]
        for uid in uids:
            fetched = _ok(await client.uid("fetch", str(uid), "(BODY.PEEK[])"), "FETCH")
            raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
            if raw is not None:
                outcome = await receive_mail(
                    self.store,
                    raw,
                    options=self.options,
                    followups=self.followups,
                    now=self.clock(),
                )
                log.info("imap %s: message %s: %s", self.mailbox, uid, outcome)
            await self._remember(uidvalidity, uid)
            if self.settings.imap_delete:
                _ok(await client.uid("store", str(uid), r"+FLAGS.SILENT (\Deleted)"), "STORE")
        if uids and self.settings.imap_delete:
            _ok(await client.expunge(), "EXPUNGE")
        return len(uids)

    async def _remember(self, uidvalidity: int, uid: int) -> None:
        now = self.clock()

        async def txn(tx: Tx) -> None:
            await sql.set_cursor(tx, self.mailbox, uidvalidity, uid, now)

        await self.store.write(txn)

    async def _idle(self, client: aioimaplib.IMAP4) -> None:
        """Wait in IDLE until the server announces mail (or imap_poll_s passes)."""
        wait = self.settings.imap_poll_s
        idle = await client.idle_start(timeout=wait)
        try:
            while client.has_pending_idle():
                try:
                    pushed = await asyncio.wait_for(client.wait_server_push(), wait + 1)
                except TimeoutError:
                    break
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(b"EXISTS" in bytes(line) for line in _as_list(pushed)):
                    break
        finally:
            if client.has_pending_idle():
                client.idle_done()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle, self.settings.imap_timeout_s)


@contextlib.asynccontextmanager
async def reading(
    settings: MailInSettings,
    store: Store,
    options: ReplyOptions,
    followups: Followups,
    clock: Clock,
) -> AsyncIterator[ImapReader]:
    """The IMAP reader running in a task while open."""
    reader = ImapReader(settings, store, options, followups, clock)
    task = asyncio.create_task(reader.run(), name="linli-imap")
    log.info("imap reader for %s started", reader.mailbox)
    try:
        yield reader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _ok(response: aioimaplib.Response, command: str) -> aioimaplib.Response:
    if response.result != "OK":
        text = b" ".join(_lines(response)).decode("utf-8", "replace")[:200]
        raise ImapError(f"{command} refused: {response.result} {text}")
    return response


def _lines(response: aioimaplib.Response) -> list[bytes]:
    return [bytes(line) for line in response.lines if isinstance(line, bytes | bytearray)]


def _as_list(pushed: object) -> list[bytes]:
    if isinstance(pushed, list):
        return [bytes(x) if isinstance(x, bytes | bytearray) else str(x).encode() for x in pushed]
    return [str(pushed).encode()]
