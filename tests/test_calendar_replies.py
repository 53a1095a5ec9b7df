"""Calendar replies by email: invitations ask for a reply only when Linli reads them; a
REPLY mailed to the invitation's own address, in the shapes Outlook, Gmail and Apple Mail
send, reaches the SMTP receiver `linli serve` runs and becomes the resident's answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple

import aiosmtplib
import icalendar  # type: ignore[import-untyped]
import pytest

from service.keys import mail_in_key
from tests.community import (
    EVENTS,
    attendance,
    eventually,
    published_event,
    resident,
    settled,
)
from tests.conftest import START, Api, MakeApi
from tests.fakes.smtp import ReceivedMail, SmtpSink
from tests.itip import SHAPES, bounce, plain_reply

REPLIES = "replies@linli.example.org"
EMAIL = "wang.fang@example.org"
UID_DOMAIN = "linli.example.org"


def email_to(sink: SmtpSink) -> dict[str, Any]:
    return {
        "channels.email.enabled": True,
        "channels.email.port": sink.port,
        "channels.email.security": "none",
        "channels.email.from_address": "notice@linli.example.org",
        "server.public_url": f"https://{UID_DOMAIN}",
    }


def reading(sink: SmtpSink, **more: Any) -> dict[str, Any]:
    """Email out to the sink, and replies read by the SMTP receiver on a free port."""
    return {
        **email_to(sink),
        "mail_in.reply_address": REPLIES,
        "mail_in.smtp_enabled": True,
        "mail_in.smtp_port": 0,
        **more,
    }


@pytest.fixture
async def sink() -> Any:
    async with SmtpSink() as server:
        yield server


class Invited(NamedTuple):
    event_id: int
    resident_id: int
    organizer: str  # the ORGANIZER address, where a calendar client replies
    uid: str
    sequence: int
    rsvp: str


def calendar_of(mail: ReceivedMail) -> Any:
    for part in mail.message.walk():
        if part.get_content_type() == "text/calendar":
            return icalendar.Calendar.from_ical(part.get_content())
    return None


async def invite(api: Api, sink: SmtpSink, **event: Any) -> Invited:
    """王芳 (by email) invited to a new event; her invitation as her mail client got it."""
    resident_id = await resident(api, "王芳", "2-1-301", ("email", EMAIL))
    event_id = await published_event(api, **event)
    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200, report
    [mail] = await sink.wait_for(len(sink.messages) + 1)
    [vevent] = calendar_of(mail).walk("VEVENT")
    organizer = str(vevent["ORGANIZER"]).removeprefix("mailto:")
    rsvp = vevent["ATTENDEE"].params["RSVP"]
    return Invited(
        event_id, resident_id, organizer, str(vevent["UID"]), int(vevent["SEQUENCE"]), rsvp
    )


async def mail_in(api: Api, raw: bytes, to: str) -> None:
    """Hand a message to the app's SMTP receiver, as a relay forwarding it would."""
    port = api.client.app[mail_in_key].smtp_port
    assert port is not None, "the SMTP receiver is not running"
    await aiosmtplib.send(
        raw, sender="relay@mx.example.org", recipients=[to], hostname="127.0.0.1", port=port
    )


async def her_item(api: Api, event_id: int) -> dict[str, Any]:
    [item] = (await attendance(api, event_id))["items"]
    return dict(item)


async def test_invitation_asks_no_reply_while_nobody_reads_them(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**email_to(sink), **{"mail_in.reply_address": REPLIES})

    invited = await invite(api, sink)

    # A reply address alone reads nothing: the calendar must not offer Accept/Decline.
    assert invited.rsvp == "FALSE"
    assert invited.organizer == "notice@linli.example.org"


async def test_invitation_asks_reply_to_its_own_signed_address_when_read(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**reading(sink))

    invited = await invite(api, sink)

    assert invited.rsvp == "TRUE"
    local, _, domain = invited.organizer.partition("@")
    assert domain == "linli.example.org" and local.startswith("replies+")
    # A token, not the resident's address, and in lowercase (relays may fold case).
    assert EMAIL.split("@")[0] not in local and local == local.lower()


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_calendar_accept_in_each_client_shape_answers_yes_and_confirms(
    make_api: MakeApi, sink: SmtpSink, shape: str
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink)
    reply: Callable[..., bytes] = SHAPES[shape]
    # She answers from another address than the one invited: the token matches her.
    raw = reply(
        to=invited.organizer,
        sender="fang.w@other.example.com",
        uid=invited.uid,
        sequence=invited.sequence,
        dtstamp=START + timedelta(minutes=5),
    )

    await mail_in(api, raw, invited.organizer)

    item = await her_item(api, invited.event_id)
    assert item["answer"] == "yes"
    assert item["history"][-1]["via"] == "calendar"
    # The usual confirmation goes out, by email.
    [confirmation] = (await sink.wait_for(2))[1:]
    assert confirmation.rcpt_tos == (EMAIL,)


async def test_calendar_decline_answers_no(make_api: MakeApi, sink: SmtpSink) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink)
    raw = SHAPES["gmail"](
        to=invited.organizer,
        sender=EMAIL,
        uid=invited.uid,
        partstat="DECLINED",
        sequence=invited.sequence,
        dtstamp=START,
    )

    await mail_in(api, raw, invited.organizer)

    assert (await her_item(api, invited.event_id))["answer"] == "no"


async def test_calendar_reply_to_a_full_event_is_waitlisted(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink, capacity=1)
    other = await resident(api, "李四", "1-1-101", ("sms", "13800138001"))
    status, _ = await api.post(
        f"{EVENTS}/{invited.event_id}/answers",
        json={"resident_id": other, "answer": "yes", "party_size": 1},
    )
    assert status == 200
    raw = SHAPES["outlook"](to=invited.organizer, sender=EMAIL, uid=invited.uid, dtstamp=START)

    await mail_in(api, raw, invited.organizer)

    body = await attendance(api, invited.event_id)
    mine = next(i for i in body["items"] if i["resident_id"] == invited.resident_id)
    assert mine["answer"] == "waitlisted"


async def test_calendar_tentative_leaves_the_answer_and_shows_in_the_inbox(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink)
    raw = SHAPES["apple"](
        to=invited.organizer,
        sender=EMAIL,
        uid=invited.uid,
        partstat="TENTATIVE",
        sequence=invited.sequence,
        dtstamp=START,
    )

    await mail_in(api, raw, invited.organizer)

    assert (await her_item(api, invited.event_id))["answer"] == "pending"
    status, inbox = await api.get("/api/v1/mail-inbox")
    assert status == 200, inbox
    [item] = inbox["items"]
    assert (item["kind"], item["event_id"], item["resident_id"]) == (
        "tentative",
        invited.event_id,
        invited.resident_id,
    )


async def test_calendar_replies_older_sequence_or_dtstamp_and_repeats_change_nothing(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink)
    status, _ = await api.patch(f"{EVENTS}/{invited.event_id}", json={"location": "活动室（改）"})
    assert status == 200
    _, event = await api.get(f"{EVENTS}/{invited.event_id}")
    sequence = int(event["sequence"])
    assert sequence > invited.sequence
    gmail = SHAPES["gmail"]

    def reply(partstat: str, seq: int, minutes: int, message_id: str) -> bytes:
        return gmail(
            to=invited.organizer,
            sender=EMAIL,
            uid=invited.uid,
            partstat=partstat,
            sequence=seq,
            dtstamp=START + timedelta(minutes=minutes),
            message_id=message_id,
        )

    # An answer to the version before the change: ignored.
    await mail_in(api, reply("ACCEPTED", invited.sequence, 1, "<a@x>"), invited.organizer)
    assert (await her_item(api, invited.event_id))["answer"] == "pending"
    # The newest DTSTAMP wins, in whatever order the replies arrive.
    await mail_in(api, reply("DECLINED", sequence, 10, "<b@x>"), invited.organizer)
    await mail_in(api, reply("ACCEPTED", sequence, 5, "<c@x>"), invited.organizer)
    item = await her_item(api, invited.event_id)
    assert item["answer"] == "no" and len(item["history"]) == 1
    # The same message again (a relay's retry) changes nothing either.
    await mail_in(api, reply("DECLINED", sequence, 10, "<b@x>"), invited.organizer)
    assert len((await her_item(api, invited.event_id))["history"]) == 1


async def test_calendar_reply_with_a_forged_token_is_refused_and_logged(
    make_api: MakeApi, sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink)
    local, _, domain = invited.organizer.partition("@")
    head, _, mac = local.rpartition("-")
    forged = f"{head}-{'a' * len(mac)}@{domain}"
    raw = SHAPES["outlook"](to=forged, sender=EMAIL, uid=invited.uid, dtstamp=START)

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await mail_in(api, raw, forged)

    assert "forged" in caplog.text
    assert (await her_item(api, invited.event_id))["answer"] == "pending"


async def test_plain_reply_goes_to_the_inbox_and_one_click_applies_it(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink, max_party_size=4)
    raw = plain_reply(
        to=invited.organizer, sender=EMAIL, text="我来，两个人", message_id="<p@x>", when=START
    )

    await mail_in(api, raw, invited.organizer)

    status, inbox = await api.get("/api/v1/mail-inbox")
    assert status == 200, inbox
    [item] = inbox["items"]
    assert (item["kind"], item["suggested"], item["party_size"]) == ("plain", "yes", 2)
    assert item["body"] == "我来，两个人"
    status, applied = await api.post(f"/api/v1/mail-inbox/{item['id']}/apply", json={})
    assert status == 200, applied
    mine = await her_item(api, invited.event_id)
    assert (mine["answer"], mine["party_size"]) == ("yes", 2)
    # A second click does nothing more.
    status, again = await api.post(f"/api/v1/mail-inbox/{item['id']}/apply", json={})
    assert status == 409 and again["error"]["code"] == "inbox_item_handled", again
    _, inbox = await api.get("/api/v1/mail-inbox")
    assert inbox["items"] == []


async def test_bounce_fails_the_email_and_falls_back_to_the_next_channel(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**reading(sink))
    resident_id = await resident(api, "王芳", "2-1-301", ("email", EMAIL), ("sms", "13800138000"))
    event_id = await published_event(api)
    status, _ = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200
    [mail] = await sink.wait_for(1)
    await settled(api, event_id, total=1)  # the send is recorded: bounces come after
    original = str(mail.message["Message-ID"])
    raw = bounce(to=REPLIES, failed=EMAIL, original_id=original, when=START)

    await mail_in(api, raw, REPLIES)

    async def deliveries() -> dict[str, Any]:
        _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
        return dict(body)

    body = await eventually(
        deliveries,
        lambda b: any(m["channel"] == "sms" for m in b["messages"]["items"]),
        "fell back to SMS",
    )
    by_channel = {m["channel"]: m for m in body["messages"]["items"]}
    assert by_channel["email"]["status"] == "failed"
    status, person = await api.get(f"/api/v1/residents/{resident_id}")
    assert status == 200
    email = next(c for c in person["contacts"] if c["channel"] == "email")
    assert email["disabled_at"] is not None and "5.1.1" in email["disabled_reason"], email
