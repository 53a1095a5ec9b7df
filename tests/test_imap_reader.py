"""The IMAP reader against a real Dovecot: a calendar client's REPLY delivered to the
community's mailbox turns the resident's answer into yes within one poll (or at once
with IDLE); the reader remembers what it read and deletes nothing unless told to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.keys import store_key
from tests.community import eventually
from tests.conftest import START, Api, MakeApi
from tests.dovecot import Dovecot, running_dovecot
from tests.fakes.smtp import SmtpSink
from tests.itip import REPLIES, SHAPES, email_to, her_item, invite, plain_reply


@pytest.fixture
async def dovecot(tmp_path: Path) -> AsyncIterator[Dovecot]:
    async with running_dovecot(tmp_path) as server:
        yield server


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as server:
        yield server


def imap_settings(dovecot: Dovecot, **more: Any) -> dict[str, Any]:
    return {
        "mail_in.reply_address": REPLIES,
        "mail_in.imap_enabled": True,
        "mail_in.imap_host": dovecot.host,
        "mail_in.imap_port": dovecot.port,
        "mail_in.imap_security": "none",
        "mail_in.imap_username": dovecot.user,
        "mail_in.imap_password": dovecot.password,
        "mail_in.imap_timeout_s": 5.0,
        **more,
    }


async def answer_of(api: Api, event_id: int) -> str:
    return str((await her_item(api, event_id))["answer"])


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
async def test_imap_reader_turns_a_calendar_accept_into_yes(
    make_api: MakeApi, sink: SmtpSink, dovecot: Dovecot, idle: bool
) -> None:
    # Polling every 0.2 s; with IDLE the poll is an hour, so only the push can wake it.
    poll = 3600.0 if idle else 0.2
    api = await make_api(
        **email_to(sink),
        **imap_settings(dovecot, **{"mail_in.imap_idle": idle, "mail_in.imap_poll_s": poll}),
    )
    invited = await invite(api, sink)
    assert invited.rsvp == "TRUE"

    await dovecot.deliver(
        SHAPES["outlook"](
            to=invited.organizer,
            sender="fang.w@other.example.com",
            uid=invited.uid,
            sequence=invited.sequence,
            dtstamp=START + timedelta(minutes=1),
        )
    )

    await eventually(lambda: answer_of(api, invited.event_id), lambda a: a == "yes", "yes")
    item = await her_item(api, invited.event_id)
    assert item["history"][-1]["via"] == "calendar"


async def test_imap_reader_remembers_what_it_read_and_deletes_nothing(
    make_api: MakeApi, sink: SmtpSink, dovecot: Dovecot
) -> None:
    api = await make_api(**email_to(sink), **imap_settings(dovecot, **{"mail_in.imap_poll_s": 0.2}))
    invited = await invite(api, sink, max_party_size=4)
    await dovecot.deliver(
        plain_reply(
            to=invited.organizer,
            sender="x@example.com",
            text="我来，两个人",
            message_id="<plain-1@x>",
            when=START,
        )
    )
    await dovecot.deliver(
        SHAPES["gmail"](
            to=invited.organizer,
            sender="x@example.com",
            uid=invited.uid,
            partstat="DECLINED",
            sequence=invited.sequence,
            dtstamp=START,
        )
    )

    await eventually(lambda: answer_of(api, invited.event_id), lambda a: a == "no", "no")
    store = api.client.app[store_key]

    async def cursor() -> Any:
        return await store.reader.fetchone("SELECT uidvalidity, last_uid FROM mail_cursors")

    row = await eventually(cursor, lambda r: r is not None and r["last_uid"] == 2, "read 2")
    assert row["uidvalidity"] > 0
    # Nothing deleted; the plain reply waits in the inbox, once.
    assert await dovecot.uids() == [1, 2]
    status, inbox = await api.get("/api/v1/mail-inbox")
    assert status == 200 and [i["kind"] for i in inbox["items"]] == ["plain"], inbox


async def test_imap_reader_deletes_read_mail_only_when_told(
    make_api: MakeApi, sink: SmtpSink, dovecot: Dovecot
) -> None:
    api = await make_api(
        **email_to(sink),
        **imap_settings(dovecot, **{"mail_in.imap_poll_s": 0.2, "mail_in.imap_delete": True}),
    )
    invited = await invite(api, sink)

    await dovecot.deliver(
        SHAPES["apple"](
            to=invited.organizer,
            sender="x@example.com",
            uid=invited.uid,
            sequence=invited.sequence,
            dtstamp=START,
        )
    )

    await eventually(lambda: answer_of(api, invited.event_id), lambda a: a == "yes", "yes")
    await eventually(dovecot.uids, lambda uids: uids == [], "mailbox emptied")
