"""The email channel against a real SMTP server (aiosmtpd), and the iCalendar builder."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from channels.base import Outcome, PermanentFailure, TemporaryFailure
from channels.email import EmailChannel, EmailChannelSettings
from service.core.errors import SettingsError
from service.core.extras import Extras
from service.core.models import Event, EventStatus
from service.messages.calendar import event_ics, invitation_frame
from tests.fakes.smtp import SmtpSink
from tests.mail import COMMUNITY, FROM, NOW, community_event, email_settings, opened, outbound

SHANGHAI = ZoneInfo("Asia/Shanghai")


def invitation(event: Event, reply_to: str | None = None, **options: Any) -> str:
    frame = invitation_frame(
        event,
        organizer_email=FROM,
        organizer_name=COMMUNITY,
        uid_domain="linli.example.org",
        now=NOW,
        **options,
    )
    return frame.invitation("wang@example.org", "王小明", reply_to=reply_to)


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as running:
        yield running


@pytest.fixture
async def channel(sink: SmtpSink) -> AsyncIterator[EmailChannel]:
    async with opened(sink.port, concurrency=2) as email:
        yield email


async def test_email_arrives_as_text_then_html_with_headers(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    receipt = await channel.send(outbound())

    [mail] = await sink.wait_for(1)
    message = mail.message
    assert receipt.outcome is Outcome.SENT
    assert receipt.provider_id == "<msg-42@linli.example.org>"
    assert (mail.mail_from, mail.rcpt_tos) == (FROM, ("wang@example.org",))
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (COMMUNITY, FROM)
    assert message["To"] == "wang@example.org"
    assert message["Subject"] == "邀请：周六跳蚤市场"
    assert message["Message-ID"] == "<msg-42@linli.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "zh-CN"
    # RFC 5322's numeric zone: "+0000", not the obsolete "GMT" (RFC 5322 §4.3).
    [date] = re.findall(rb"\r\nDate: ([^\r]*)\r\n", mail.raw)
    assert date.endswith(b" +0000"), date
    assert message["List-Unsubscribe"] is None
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().strip() == "周六上午十点，活动室。"
    assert parts[1].get_content().strip() == "<p>周六上午十点，<b>活动室</b>。</p>"


async def test_email_long_subjects_and_names_arrive_whole(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    subject = (
        "邀请：十二月第一个周六上午在小区中心广场举行的冬季跳蚤市场暨旧物交换活动，欢迎全家参加"
    )
    english = "Invitation: " + "the winter flea market and swap day " * 4

    # An organiser's subject block may run long, or look like an encoded word.
    very_long = "Subject " * 200 + "end"
    lookalike = "=?utf-8?q?Hacked?= end"

    await channel.send(outbound(subject=subject))
    await channel.send(outbound(id="msg-43", subject=english.strip()))
    await channel.send(outbound(id="msg-44", subject=very_long))
    await channel.send(outbound(id="msg-45", subject=lookalike))

    first, second, third, fourth = await sink.wait_for(4)
    assert first.message["Subject"] == subject
    assert second.message["Subject"] == english.strip()
    assert third.message["Subject"] == very_long  # once refused: "500 Line too long"
    assert fourth.message["Subject"] == lookalike
    for mail in (first, third):
        raw = mail.raw.decode("ascii")  # 7-bit on the wire: encoded words, base64 bodies
        assert all(len(line) <= 998 for line in raw.split("\r\n"))


async def test_email_without_html_is_plain_text(sink: SmtpSink, channel: EmailChannel) -> None:
    await channel.send(outbound(html=None))

    [mail] = await sink.wait_for(1)
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content().strip() == "周六上午十点，活动室。"


async def test_email_from_name_setting_wins_over_community_name(sink: SmtpSink) -> None:
    async with opened(sink.port, from_name="邻里通知") as email:
        await email.send(outbound())

    [mail] = await sink.wait_for(1)
    assert mail.message["From"].addresses[0].display_name == "邻里通知"


async def test_email_invitation_carries_imip_calendar_part(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    event = community_event()

    await channel.send(outbound(extra=Extras(ics=invitation(event))))

    [mail] = await sink.wait_for(1)
    parts = list(mail.message.iter_parts())
    assert [part.get_content_type() for part in parts] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    calendar_part = parts[2]
    assert calendar_part.get_param("method") == "REQUEST"
    assert calendar_part.get_content_charset() == "utf-8"
    calendar = icalendar.Calendar.from_ical(calendar_part.get_content())
    assert calendar["METHOD"] == "REQUEST"
    [vevent] = calendar.walk("VEVENT")
    assert vevent["UID"] == "linli-event-7@linli.example.org"
    assert vevent["SEQUENCE"] == 3
    assert vevent["SUMMARY"] == "跳蚤市场"
    assert vevent["LOCATION"] == "活动室"
    assert vevent.decoded("DTSTART") == event.starts_at
    assert vevent.decoded("DTEND") == event.ends_at
    assert vevent.decoded("DTSTAMP") == NOW
    attendee = vevent["ATTENDEE"]
    assert str(attendee) == "mailto:wang@example.org"
    assert attendee.params["CN"] == "王小明"
    # Nobody reads replies to FROM: the calendar must not offer Accept/Decline.
    assert attendee.params["RSVP"] == "FALSE"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert str(vevent["ORGANIZER"]) == f"mailto:{FROM}"
    assert vevent["ORGANIZER"].params["CN"] == COMMUNITY


async def test_email_cancellation_is_imip_cancel(sink: SmtpSink, channel: EmailChannel) -> None:
    cancelled = community_event(status=EventStatus.CANCELLED, cancelled_at=NOW)
    ics = invitation(cancelled)

    await channel.send(outbound(extra=Extras(ics=ics)))

    [mail] = await sink.wait_for(1)
    calendar_part = list(mail.message.iter_parts())[-1]
    assert calendar_part.get_param("method") == "CANCEL"
    calendar = icalendar.Calendar.from_ical(ics)
    assert calendar["METHOD"] == "CANCEL"
    [vevent] = calendar.walk("VEVENT")
    assert vevent["STATUS"] == "CANCELLED"
    assert vevent["UID"] == "linli-event-7@linli.example.org"
    # A STATUS change is significant (RFC 5546), so clients must see a higher SEQUENCE.
    assert vevent["SEQUENCE"] == 4


def test_invitation_ics_with_a_reply_address_asks_for_a_reply_there() -> None:
    reply_to = "replies+7-1-abc@linli.example.org"

    calendar = icalendar.Calendar.from_ical(invitation(community_event(), reply_to=reply_to))

    [vevent] = calendar.walk("VEVENT")
    assert vevent["ATTENDEE"].params["RSVP"] == "TRUE"
    assert str(vevent["ORGANIZER"]) == f"mailto:{reply_to}"
    assert vevent["ORGANIZER"].params["CN"] == COMMUNITY


def test_invitation_ics_uninviting_one_attendee_leaves_event_status_out() -> None:
    ics = invitation(community_event(), method="CANCEL")

    calendar = icalendar.Calendar.from_ical(ics)
    [vevent] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "CANCEL"
    assert "STATUS" not in vevent
    assert "RSVP" not in vevent["ATTENDEE"].params


@pytest.mark.parametrize(
    ("room_name", "location", "expected"),
    [
        ("活动室", "3号楼一层", "活动室, 3号楼一层"),
        ("活动室", "", "活动室"),
        (None, "小区广场", "小区广场"),
        ("活动室", "活动室", "活动室"),
    ],
)
def test_event_ics_location_names_the_room_then_the_place(
    room_name: str | None, location: str, expected: str
) -> None:
    event = community_event(location=location, room_id=1 if room_name else None)

    ics = event_ics(event, uid_domain="linli.example.org", now=NOW, room_name=room_name)

    [vevent] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert vevent["LOCATION"] == expected


def test_event_ics_is_publish_with_the_same_uid_and_no_people() -> None:
    ics = event_ics(community_event(), uid_domain="linli.example.org", now=NOW)

    calendar = icalendar.Calendar.from_ical(ics)
    [vevent] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "PUBLISH"
    assert vevent["UID"] == "linli-event-7@linli.example.org"
    assert vevent["STATUS"] == "CONFIRMED"
    assert "ATTENDEE" not in vevent
    assert "ORGANIZER" not in vevent


async def test_email_unsubscribe_headers_for_one_click(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    # Longer than a folded header line: it must still arrive as one unencoded URL.
    url = "https://linli.example.org/unsubscribe/" + "t0ken" * 20

    await channel.send(outbound(extra=Extras(unsubscribe_url=url)))

    [mail] = await sink.wait_for(1)
    assert mail.message["List-Unsubscribe"] == f"<{url}>"
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"List-Unsubscribe: <{url}>\r\n".encode() in mail.raw


async def test_email_same_message_twice_keeps_its_message_id(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    first = await channel.send(outbound())
    second = await channel.send(replace(outbound(), attempt=2))

    mails = await sink.wait_for(2)
    assert first.provider_id == second.provider_id == "<msg-42@linli.example.org>"
    assert [mail.message["Message-ID"] for mail in mails] == [first.provider_id] * 2


async def test_email_reuses_connections(sink: SmtpSink, channel: EmailChannel) -> None:
    receipts = await asyncio.gather(*(channel.send(outbound(id=f"msg-{n}")) for n in range(10)))

    await sink.wait_for(10)
    assert all(receipt.outcome is Outcome.SENT for receipt in receipts)
    assert 1 <= sink.connections_opened <= 2  # concurrency is 2


async def test_email_reconnects_after_the_server_drops_the_connection(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    await channel.send(outbound(id="msg-1"))
    sink.drop_connections()

    receipt = await channel.send(outbound(id="msg-2"))

    assert receipt.outcome is Outcome.SENT
    assert [mail.message["Message-ID"] for mail in await sink.wait_for(2)] == [
        "<msg-1@linli.example.org>",
        "<msg-2@linli.example.org>",
    ]
    assert sink.connections_opened == 2


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
async def test_email_retries_once_on_a_fresh_connection_after_421(
    sink: SmtpSink, channel: EmailChannel, stage: Any
) -> None:
    await channel.send(outbound(id="msg-1"))
    sink.fail_next(421, stage=stage)

    receipt = await channel.send(outbound(id="msg-2"))

    assert receipt.outcome is Outcome.SENT
    assert len(await sink.wait_for(2)) == 2
    assert sink.connections_opened == 2


async def test_email_421_twice_is_temporary(sink: SmtpSink, channel: EmailChannel) -> None:
    sink.fail_next(421, count=2)

    with pytest.raises(TemporaryFailure, match="smtp 421"):
        await channel.send(outbound())
    assert sink.messages == []


@pytest.mark.parametrize(
    ("stage", "code", "failure"),
    [
        ("RCPT", 451, TemporaryFailure),
        ("RCPT", 450, TemporaryFailure),
        ("DATA", 452, TemporaryFailure),
        ("RCPT", 550, PermanentFailure),
        ("DATA", 554, PermanentFailure),
    ],
)
async def test_email_smtp_codes_map_to_failures(
    sink: SmtpSink, channel: EmailChannel, stage: Any, code: int, failure: type[Exception]
) -> None:
    sink.fail_next(code, stage=stage)

    with pytest.raises(failure, match=f"^smtp {code}: "):
        await channel.send(outbound())

    # The refusal left the connection usable: the next message goes out on it.
    assert (await channel.send(outbound(id="msg-43"))).outcome is Outcome.SENT
    [mail] = await sink.wait_for(1)
    assert mail.message["Message-ID"] == "<msg-43@linli.example.org>"
    assert sink.connections_opened == 1


async def test_email_550_reason_is_short_and_readable(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    sink.fail_next(550)

    with pytest.raises(PermanentFailure) as caught:
        await channel.send(outbound())

    assert caught.value.reason == "smtp 550: 5.1.1 Mailbox unavailable"


async def test_email_server_down_is_temporary() -> None:
    # A bound socket that does not listen: connections to it are refused, and no other
    # test can take the port meanwhile.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        async with opened(port) as email:
            with pytest.raises(TemporaryFailure, match="smtp"):
                await email.send(outbound())


async def test_email_non_ascii_mailbox_goes_out_with_smtputf8(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    receipt = await channel.send(outbound(address="王小明@例子.中国"))

    [mail] = await sink.wait_for(1)
    assert receipt.outcome is Outcome.SENT
    assert mail.rcpt_tos == ("王小明@例子.中国",)
    assert mail.message["To"] == "王小明@例子.中国"


async def test_email_crlf_in_subject_is_permanent(sink: SmtpSink, channel: EmailChannel) -> None:
    with pytest.raises(PermanentFailure, match="cannot build the email"):
        await channel.send(outbound(subject="Hello\r\nBcc: everyone@example.org"))

    assert sink.messages == []
    assert sink.connections_opened == 0


async def test_email_crlf_in_unsubscribe_url_is_permanent(
    sink: SmtpSink, channel: EmailChannel
) -> None:
    with pytest.raises(PermanentFailure):
        await channel.send(outbound(extra=Extras(unsubscribe_url="https://x.example/\r\nBcc: a@b")))

    assert sink.messages == []


async def test_email_logs_in_when_a_username_is_set() -> None:
    async with (
        SmtpSink(credentials=("linli", "s3cret-pw")) as sink,
        opened(sink.port, username="linli", password="s3cret-pw") as email,
    ):
        receipt = await email.send(outbound())

    assert receipt.outcome is Outcome.SENT
    assert sink.logins == 1
    assert len(sink.messages) == 1


async def test_email_refused_login_is_temporary_and_keeps_the_password_out() -> None:
    async with (
        SmtpSink(credentials=("linli", "right-pw")) as sink,
        opened(sink.port, username="linli", password="wrong-pw") as email,
    ):
        with pytest.raises(TemporaryFailure, match="login") as caught:
            await email.send(outbound())

    assert "wrong-pw" not in caught.value.reason
    assert sink.messages == []


async def test_email_close_quits_pooled_connections(sink: SmtpSink) -> None:
    email = EmailChannel(email_settings(sink.port, concurrency=3), sender_name=COMMUNITY)
    await asyncio.gather(*(email.send(outbound(id=f"msg-{n}")) for n in range(6)))
    assert sink.connections_open >= 1

    await email.close()

    await sink.wait_closed()


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"from_address": "not an address"}, "channels.email.from_address"),
        ({"from_address": "linli@"}, "channels.email.from_address"),
        ({"username": "linli"}, "channels.email.password"),
        ({"password": "s3cret"}, "channels.email.username"),
        (
            {"username": "linli", "password": "s3cret", "host": "smtp.example.org"},
            "channels.email.security",
        ),
        ({"from_name": "Linli\r\nBcc: everyone@example.org"}, "channels.email.from_name"),
    ],
)
def test_email_settings_errors_name_the_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(SettingsError, match=f"^{key}: ") as caught:
        EmailChannel(email_settings(25, **changes), sender_name=COMMUNITY)

    assert "s3cret" not in str(caught.value)


async def test_email_settings_defaults_are_accepted_and_never_send_in_the_clear(
    sink: SmtpSink,
) -> None:
    defaults = replace(EmailChannelSettings(), enabled=True, port=sink.port)
    email = EmailChannel(defaults, sender_name=COMMUNITY)
    try:
        # The defaults want STARTTLS: a server that does not offer it gets nothing, and
        # the message waits for a retry rather than failing for good.
        with pytest.raises(TemporaryFailure, match="STARTTLS"):
            await email.send(outbound())
    finally:
        await email.close()

    assert sink.messages == []
