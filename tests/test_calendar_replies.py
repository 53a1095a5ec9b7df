"""Calendar replies by email: invitations ask for a reply only when Linli reads them; a
REPLY mailed to the invitation's own address, in the shapes Outlook, Gmail and Apple Mail
send, reaches the SMTP receiver `linli serve` runs and becomes the resident's answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import icalendar  # type: ignore[import-untyped]
import pytest

from service.core.retention import RetentionSettings
from service.domain.housekeeping import purge_aged
from service.keys import settings_key, store_key
from tests.community import (
    EVENTS,
    attendance,
    eventually,
    published_event,
    resident,
    settled,
)
from tests.conftest import START, MakeApi
from tests.console import ConsoleClient
from tests.fakes.smtp import SmtpSink
from tests.itip import (
    EMAIL,
    REPLIES,
    SHAPES,
    bounce,
    email_to,
    her_item,
    invite,
    mail_in,
    plain_reply,
    reading,
)


@pytest.fixture
async def sink() -> Any:
    async with SmtpSink() as server:
        yield server


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


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh-CN", ("邮件收件箱", "看起来是：参加，共 2 人。", "已记录回复。")),
     ("en", ("Mail inbox", "It seems to say: coming, 2 in the party.", "recorded"))],
)  # fmt: skip
async def test_console_inbox_shows_a_plain_reply_and_applies_it_in_one_click(
    make_api: MakeApi, sink: SmtpSink, lang: str, words: tuple[str, str, str]
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink, max_party_size=4)
    raw = plain_reply(
        to=invited.organizer, sender=EMAIL, text="我来，两个人", message_id="<c@x>", when=START
    )
    await mail_in(api, raw, invited.organizer)
    browser = ConsoleClient(api.client)
    assert (await browser.sign_in_token(api.token or "")).url.startswith("/console")
    browser.client.session.cookie_jar.update_cookies({"linli_lang": lang})

    page = await browser.get("/console/inbox")

    assert page.status == 200 and page.has(words[0]) and page.has(words[1]), page.text
    assert page.has("我来，两个人") and page.has("王芳")
    _, inbox = await api.get("/api/v1/mail-inbox")
    [item] = inbox["items"]
    done = await browser.post(
        f"/console/inbox/{item['id']}/apply", {"answer": "yes", "party_size": "2"}
    )
    assert done.url == "/console/inbox" and words[2] in (done.flash or ""), done.text
    assert done.by_id("empty") is not None
    mine = await her_item(api, invited.event_id)
    assert (mine["answer"], mine["party_size"]) == ("yes", 2)


async def test_demo_file_channel_invitation_answered_from_its_calendar_part(
    make_api: MakeApi,
) -> None:
    # As with `make run`: no mail server, the file channel stands in for email and writes
    # the calendar part beside the message; the reply comes by the SMTP receiver.
    api = await make_api(
        **{
            "mail_in.reply_address": REPLIES,
            "mail_in.smtp_enabled": True,
            "mail_in.smtp_port": 0,
            "server.public_url": "http://linli.example.org",
        }
    )
    resident_id = await resident(api, "王芳", "2-1-301", ("email", EMAIL))
    event_id = await published_event(api)
    assert (await api.post(f"{EVENTS}/{event_id}/send"))[0] == 200
    await settled(api, event_id, total=1)
    root = Path(api.client.app[settings_key].channels.file.path) / "email"
    [ics_file] = list(root.glob("*.ics"))
    [vevent] = icalendar.Calendar.from_ical(ics_file.read_text(encoding="utf-8")).walk("VEVENT")
    assert vevent["ATTENDEE"].params["RSVP"] == "TRUE"
    organizer = str(vevent["ORGANIZER"]).removeprefix("mailto:")

    raw = SHAPES["apple"](
        to=organizer, sender=EMAIL, uid=str(vevent["UID"]), sequence=0, dtstamp=START
    )
    await mail_in(api, raw, organizer)

    [item] = (await attendance(api, event_id))["items"]
    assert (item["resident_id"], item["answer"]) == (resident_id, "yes")


async def test_retention_forgets_handled_inbox_mail_but_keeps_open_mail(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink, max_party_size=4)
    for number, text in enumerate(("我来，两个人", "请问几点结束？")):
        raw = plain_reply(
            to=invited.organizer, sender=EMAIL, text=text, message_id=f"<r{number}@x>", when=START
        )
        await mail_in(api, raw, invited.organizer)
    _, inbox = await api.get("/api/v1/mail-inbox")
    answered = next(i for i in inbox["items"] if i["suggested"] == "yes")
    assert (await api.post(f"/api/v1/mail-inbox/{answered['id']}/apply", json={}))[0] == 200
    store = api.client.app[store_key]

    await purge_aged(store, RetentionSettings(), now=START + timedelta(days=31))

    _, kept = await api.get("/api/v1/mail-inbox", params={"all": "true"})
    assert [i["body"] for i in kept["items"]] == ["请问几点结束？"]


async def test_erasure_takes_their_mail_out_of_the_inbox_even_without_a_token(
    make_api: MakeApi, sink: SmtpSink
) -> None:
    api = await make_api(**reading(sink))
    invited = await invite(api, sink)
    for n, to in enumerate((invited.organizer, REPLIES)):  # by token, then the bare address
        raw = plain_reply(
            to=to, sender=EMAIL, text="我来，两个人", message_id=f"<e{n}@x>", when=START
        )
        await mail_in(api, raw, to)
    _, inbox = await api.get("/api/v1/mail-inbox")
    assert [item["sender"] for item in inbox["items"]] == [EMAIL, EMAIL]

    assert (await api.delete(f"/api/v1/residents/{invited.resident_id}"))[0] == 204

    _, inbox = await api.get("/api/v1/mail-inbox")
    assert inbox["items"] == []
    store = api.client.app[store_key]
    row = await store.reader.fetchone("SELECT count(*) FROM mail_inbox WHERE sender = ?", (EMAIL,))
    assert row is not None and row[0] == 0
