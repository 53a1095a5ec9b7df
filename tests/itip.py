"""Calendar replies (iTIP REPLY, RFC 5546, carried as iMIP, RFC 6047) in the shapes real
clients mail them, written from their documented formats and samples:

- Outlook (desktop and Outlook.com): multipart/alternative, text/plain then
  `text/calendar; charset="utf-8"; method=REPLY` in base64; a VTIMEZONE, Microsoft's
  X- properties, a COMMENT, and no ORGANIZER in Outlook.com's.
- Gmail: multipart/mixed of a multipart/alternative (text/plain, text/html,
  `text/calendar; charset="UTF-8"; method=REPLY`) and the same object again as an
  `application/ics; name="invite.ics"` attachment; ATTENDEE with CUTYPE and X-NUM-GUESTS.
- Apple Mail / Calendar: multipart/mixed with text/plain and a quoted-printable
  `Text/Calendar; method=REPLY; name=…ics` part whose ATTENDEE line is repeated.
And a bounce (RFC 3464 delivery status notification) and a plain reply; and the steps the
calendar reply tests share: an app reading replies, an invitation as the resident's mail
client got it, a message handed to the app's SMTP receiver."""

from __future__ import annotations

import base64
import quopri
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from typing import Any, NamedTuple

import aiosmtplib
import icalendar  # type: ignore[import-untyped]

from service.keys import mail_in_key
from tests.community import EVENTS, attendance, published_event, resident
from tests.conftest import Api
from tests.fakes.smtp import ReceivedMail, SmtpSink

CRLF = "\r\n"
# The subject's first word in English clients' replies.
VERBS = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentative"}


def ics_reply(
    *,
    uid: str,
    partstat: str,
    attendee: str,
    sequence: int | None,
    dtstamp: datetime,
    organizer: str | None,
    prodid: str,
    attendee_params: str = "",
    repeat_attendee: bool = False,
    extra: str = "",
) -> str:
    """A METHOD:REPLY VCALENDAR."""
    stamp = dtstamp.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{prodid}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:REPLY",
    ]
    if "Microsoft" in prodid:
        lines += [
            "BEGIN:VTIMEZONE",
            "TZID:China Standard Time",
            "BEGIN:STANDARD",
            "DTSTART:16010101T000000",
            "TZOFFSETFROM:+0800",
            "TZOFFSETTO:+0800",
            "END:STANDARD",
            "END:VTIMEZONE",
        ]
    lines += ["BEGIN:VEVENT"]
    attendee_line = f"ATTENDEE;PARTSTAT={partstat}{attendee_params}:mailto:{attendee}"
    lines.append(attendee_line)
    if repeat_attendee:
        lines.append(attendee_line)
    if organizer is not None:
        lines.append(f"ORGANIZER:mailto:{organizer}")
    lines += [
        "DTSTART;TZID=China Standard Time:20261205T090000"
        if "Microsoft" in prodid
        else "DTSTART:20261205T010000Z",
        "DTEND:20261205T040000Z",
        f"DTSTAMP:{stamp}",
        f"UID:{uid}",
    ]
    if sequence is not None:
        lines.append(f"SEQUENCE:{sequence}")
    lines += ["SUMMARY:跳蚤市场"]
    if extra:
        lines += extra.split("\n")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return CRLF.join(lines) + CRLF


def _b64(text: str) -> str:
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return CRLF.join(data[i : i + 76] for i in range(0, len(data), 76))


def _headers(sender: str, to: str, subject: str, message_id: str, when: datetime) -> list[str]:
    return [
        f"From: {sender}",
        f"To: {to}",
        # Non-ASCII words as RFC 2047 encoded words, as every client writes them.
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
    ]


def outlook_reply(
    *,
    to: str,
    sender: str,
    uid: str,
    partstat: str = "ACCEPTED",
    sequence: int = 0,
    dtstamp: datetime,
    message_id: str = "<outlook-1@example.com>",
    with_organizer: bool = False,
) -> bytes:
    """Outlook's reply; Outlook.com's (the default here) has no ORGANIZER."""
    verb = VERBS[partstat]
    ics = ics_reply(
        uid=uid,
        partstat=partstat,
        attendee=sender,
        sequence=sequence,
        dtstamp=dtstamp,
        organizer=to if with_organizer else None,
        prodid="-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN",
        attendee_params=";CN=Wang Fang;RSVP=FALSE",
        extra="COMMENT;LANGUAGE=en-US:\nX-MICROSOFT-CDO-REPLYTIME:"
        + dtstamp.strftime("%Y%m%dT%H%M%SZ")
        + "\nCLASS:PUBLIC\nPRIORITY:5\nTRANSP:OPAQUE",
    )
    boundary = "_000_OUTLOOK_alt_"
    lines = [
        *_headers(sender, to, f"{verb}: 跳蚤市场", message_id, dtstamp),
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="us-ascii"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "",
        f"--{boundary}",
        'Content-Type: text/calendar; charset="utf-8"; method=REPLY',
        "Content-Transfer-Encoding: base64",
        "",
        _b64(ics),
        "",
        f"--{boundary}--",
        "",
    ]
    return CRLF.join(lines).encode("ascii")


def gmail_reply(
    *,
    to: str,
    sender: str,
    uid: str,
    partstat: str = "ACCEPTED",
    sequence: int = 0,
    dtstamp: datetime,
    message_id: str = "<gmail-1@mail.gmail.com>",
) -> bytes:
    """Gmail's reply: the calendar inline and again as invite.ics."""
    verb = VERBS[partstat]
    ics = ics_reply(
        uid=uid,
        partstat=partstat,
        attendee=sender,
        sequence=sequence,
        dtstamp=dtstamp,
        organizer=to,
        prodid="-//Google Inc//Google Calendar 70.9054//EN",
        attendee_params=";CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;CN=Wang Fang;X-NUM-GUESTS=0",
        extra="STATUS:CONFIRMED\nTRANSP:OPAQUE",
    )
    mixed, alt = "000000000000mixed", "000000000000alt"
    lines = [
        *_headers(sender, to, f"{verb}: 跳蚤市场 @ Sat Dec 5, 2026", message_id, dtstamp),
        f'Content-Type: multipart/mixed; boundary="{mixed}"',
        "",
        f"--{mixed}",
        f'Content-Type: multipart/alternative; boundary="{alt}"',
        "",
        f"--{alt}",
        'Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes',
        "",
        f"{sender} has accepted this invitation.",
        "",
        f"--{alt}",
        'Content-Type: text/html; charset="UTF-8"',
        "",
        "<p>has accepted this invitation.</p>",
        "",
        f"--{alt}",
        'Content-Type: text/calendar; charset="UTF-8"; method=REPLY',
        "Content-Transfer-Encoding: 7bit",
        "",
        ics.replace("跳蚤市场", "Flea market"),
        f"--{alt}--",
        "",
        f"--{mixed}",
        'Content-Type: application/ics; name="invite.ics"',
        'Content-Disposition: attachment; filename="invite.ics"',
        "Content-Transfer-Encoding: base64",
        "",
        _b64(ics),
        f"--{mixed}--",
        "",
    ]
    return CRLF.join(lines).encode("utf-8")


def apple_reply(
    *,
    to: str,
    sender: str,
    uid: str,
    partstat: str = "ACCEPTED",
    sequence: int = 0,
    dtstamp: datetime,
    message_id: str = "<apple-1@icloud.com>",
) -> bytes:
    """Apple Mail's reply: quoted-printable, an odd-case type name, ATTENDEE twice."""
    ics = ics_reply(
        uid=uid,
        partstat=partstat,
        attendee=sender,
        sequence=sequence,
        dtstamp=dtstamp,
        organizer=to,
        prodid="-//Apple Inc.//macOS 14.0//EN",
        attendee_params=';CN="Wang Fang";EMAIL=' + sender,
        repeat_attendee=True,
        extra="CREATED:20261128T020000Z\nTRANSP:OPAQUE",
    )
    qp = quopri.encodestring(ics.encode("utf-8")).decode("ascii")
    boundary = "Apple-Mail=_1F2E3D4C"
    lines = [
        *_headers(sender, to, "Invitation: 跳蚤市场 (accepted)", message_id, dtstamp),
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
        "",
        "",
        f"--{boundary}",
        "Content-Type: Text/Calendar; method=REPLY; name=iCal-20261128-020000.ics; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Disposition: inline; filename=iCal-20261128-020000.ics",
        "",
        qp,
        f"--{boundary}--",
        "",
    ]
    return CRLF.join(lines).encode("ascii")


SHAPES = {"outlook": outlook_reply, "gmail": gmail_reply, "apple": apple_reply}


def plain_reply(*, to: str, sender: str, text: str, message_id: str, when: datetime) -> bytes:
    """A reply with no calendar part, quoting the invitation below the answer."""
    lines = [
        *_headers(sender, to, "Re: 邀请：跳蚤市场", message_id, when),
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        _b64(f"{text}\r\n\r\n在 2026年11月28日，学府雍景湾 写道：\r\n> 邀请：跳蚤市场\r\n"),
        "",
    ]
    return CRLF.join(lines).encode("ascii")


def bounce(
    *, to: str, failed: str, original_id: str, status: str = "5.1.1", when: datetime
) -> bytes:
    """A mail server's delivery status notification (RFC 3464) for one of our messages."""
    boundary = "dsn-boundary-1"
    lines = [
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)",
        f"To: {to}",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {format_datetime(when)}",
        "Message-ID: <dsn-1@mx.example.org>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is the mail system. Your message could not be delivered.",
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.org",
        "",
        f"Final-Recipient: rfc822; {failed}",
        "Action: failed",
        f"Status: {status}",
        f"Diagnostic-Code: smtp; 550 {status} <{failed}>: Recipient address rejected",
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
        f"To: {failed}",
        f"Message-ID: {original_id}",
        "Subject: invitation",
        "",
        f"--{boundary}--",
        "",
    ]
    return CRLF.join(lines).encode("ascii")


REPLIES = "replies@linli.example.org"
EMAIL = "wang.fang@example.org"
UID_DOMAIN = "linli.example.org"


def email_to(sink: SmtpSink) -> dict[str, Any]:
    return {
        "channels.email.enabled": True,
        "channels.email.port": sink.port,
        "channels.email.security": "none",
        "channels.email.from_address": "notice@linli.example.org",
        # http: the console test signs in over plain HTTP (https makes cookies Secure).
        "server.public_url": f"http://{UID_DOMAIN}",
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
