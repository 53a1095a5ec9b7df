"""Mail to the reply address, read into plain values, pure: who it was for, its calendar
replies (RFC 5546 iTIP REPLY in `text/calendar` or `application/ics` parts, whatever the
case of their names), its text, and whether it is a bounce (RFC 3464 DSN) naming the
message of ours that failed. Nothing here touches the store."""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses
from typing import Any, Final

import icalendar  # type: ignore[import-untyped]  # icalendar ships no type information

log = logging.getLogger("linli.mail")

_CALENDAR_TYPES: Final = frozenset({"text/calendar", "application/ics"})
# Headers a mailbox or relay writes the address a message was delivered to in.
_RECIPIENT_HEADERS: Final = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
# PARTSTAT of a reply, as Linli reads it: the rest (NEEDS-ACTION, DELEGATED) say nothing.
PARTSTATS: Final = frozenset({"ACCEPTED", "DECLINED", "TENTATIVE"})
MAX_TEXT: Final = 4000


@dataclass(frozen=True)
class CalendarReply:
    """One VEVENT of a METHOD:REPLY: its UID, SEQUENCE, DTSTAMP, the attendee's PARTSTAT
    and the ORGANIZER it names (Outlook.com leaves it out)."""

    uid: str
    sequence: int
    dtstamp: datetime
    partstat: str
    organizer: str | None
    attendee: str | None


@dataclass(frozen=True)
class Bounce:
    """A delivery status notification: the Message-ID of ours that failed, the address
    and the status code (5.1.1 …) the reporting server gave."""

    original_id: str | None
    recipient: str | None
    status: str
    diagnostic: str

    @property
    def address_gone(self) -> bool:
        """The mailbox or domain does not exist (X.1.1, X.1.2, X.1.10): stop using it."""
        return self.status.startswith("5.1.") and self.status.split(".")[2] in ("1", "2", "10")


@dataclass(frozen=True)
class Mail:
    """One message as Linli reads it."""

    key: str  # what makes it apply once: its Message-ID, or a digest of the bytes
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    replies: tuple[CalendarReply, ...]
    # METHOD of each calendar part that is not a REPLY (a REQUEST sent to us, say).
    other_methods: tuple[str, ...]
    bounce: Bounce | None
    automatic: bool  # Auto-Submitted or a list/bulk message: never answered


def read_mail(raw: bytes, envelope: tuple[str, ...] = ()) -> Mail:
    """Read one message; `envelope`: the SMTP RCPT TO addresses, when known (they come
    first among the recipients)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    message_id = _header(message, "Message-ID").strip()
    key = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    recipients = list(envelope)
    for name in _RECIPIENT_HEADERS:
        values = [_header_value(v) for v in message.get_all(name) or []]
        recipients += [address for _, address in getaddresses(values) if address]
    senders = getaddresses([_header(message, "From")])
    replies: list[CalendarReply] = []
    others: list[str] = []
    for part in message.walk():
        if part.get_content_type() in _CALENDAR_TYPES:
            method, found = read_calendar(_payload(part))
            if method == "REPLY":
                replies.extend(found)
            elif method:
                others.append(method)
    auto = _header(message, "Auto-Submitted").strip().lower()
    precedence = _header(message, "Precedence").strip().lower()
    return Mail(
        key=key,
        sender=senders[0][1].lower() if senders and senders[0][1] else "",
        recipients=tuple(dict.fromkeys(r.strip() for r in recipients)),
        subject=_header(message, "Subject").strip(),
        text=_text_of(message),
        replies=tuple(replies),
        other_methods=tuple(others),
        bounce=_bounce(message),
        automatic=(auto not in ("", "no")) or precedence in ("bulk", "list", "junk"),
    )


def read_calendar(data: str) -> tuple[str | None, list[CalendarReply]]:
    """The METHOD of an iCalendar object and, for a REPLY, its replies; (None, []) when it
    cannot be read."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        log.info("a calendar part could not be read: %s", type(exc).__name__)
        return None, []
    method = str(calendar.get("METHOD", "")).strip().upper() or None
    if method != "REPLY":
        return method, []
    replies = []
    for vevent in calendar.walk("VEVENT"):
        reply = _reply_of(vevent)
        if reply is not None:
            replies.append(reply)
    return method, replies


def _reply_of(vevent: Any) -> CalendarReply | None:
    uid = str(vevent.get("UID", "")).strip()
    if not uid:
        return None
    try:
        sequence = int(vevent.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        sequence = 0
    stamp = vevent.get("DTSTAMP")
    dtstamp = _utc(stamp.dt) if stamp is not None else datetime(1970, 1, 1, tzinfo=UTC)
    attendees = vevent.get("ATTENDEE")
    if attendees is None:
        return None
    if not isinstance(attendees, list):
        attendees = [attendees]
    # Clients repeat the ATTENDEE line (Apple Mail, Outlook with a delegate): the first
    # one that answers is the answer.
    answering = [
        a for a in attendees if str(a.params.get("PARTSTAT", "")).strip().upper() in PARTSTATS
    ]
    if not answering:
        return None
    chosen = answering[0]
    organizer = vevent.get("ORGANIZER")
    return CalendarReply(
        uid=uid,
        sequence=sequence,
        dtstamp=dtstamp,
        partstat=str(chosen.params["PARTSTAT"]).strip().upper(),
        organizer=_mailto(organizer) if organizer is not None else None,
        attendee=_mailto(chosen),
    )


def _mailto(value: Any) -> str | None:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return text or None


def _utc(moment: Any) -> datetime:
    if not isinstance(moment, datetime):  # a DATE: midnight UTC
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if moment.tzinfo is None:  # floating time: read as UTC, the only fair guess
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _payload(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


def _text_of(message: EmailMessage) -> str:
    """The plain text the sender wrote, without the quoted message below it."""
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return ""
    text = _payload(body)
    kept: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">"):
            continue
        # Where clients start quoting: "On … wrote:", "-----Original Message-----", "在…写道："
        if _quote_start(stripped):
            break
        kept.append(line.rstrip())
    return "\n".join(kept).strip()[:MAX_TEXT]


def _quote_start(line: str) -> bool:
    lowered = line.lower()
    return (
        (lowered.startswith("on ") and lowered.endswith("wrote:"))
        or lowered.startswith("-----original message")
        or (line.startswith("在") and line.endswith(("写道：", "写道:")))
        or lowered.startswith("from:")
        or line.startswith("发件人")
    )


def _bounce(message: EmailMessage) -> Bounce | None:
    """A DSN's first failed recipient and the Message-ID of the message that failed."""
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        return None
    fields: dict[str, str] = {}
    original: str | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            fields = _status_fields(part)
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            original = original or _original_id(part)
    action = fields.get("action", "").lower()
    if action and action != "failed":  # delayed, delivered, relayed: no failure
        return None
    status = fields.get("status", "5.0.0").split()[0] if fields.get("status") else "5.0.0"
    recipient = fields.get("final-recipient") or fields.get("original-recipient")
    if recipient and ";" in recipient:
        recipient = recipient.split(";", 1)[1].strip()
    return Bounce(original, recipient, status, fields.get("diagnostic-code", "")[:300])


def _status_fields(part: Message) -> dict[str, str]:
    """The per-message and first per-recipient fields of a message/delivery-status part,
    lowercase names (the email package parses it as a list of header blocks)."""
    fields: dict[str, str] = {}
    blocks = part.get_payload()
    if isinstance(blocks, list):
        for block in blocks:
            if not isinstance(block, Message):
                continue
            for name, value in block.items():
                fields.setdefault(name.lower(), " ".join(str(value).split()))
    else:  # not parsed: read the text
        for line in str(blocks).splitlines():
            name, colon, value = line.partition(":")
            if colon:
                fields.setdefault(name.strip().lower(), value.strip())
    return fields


def _original_id(part: Message) -> str | None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, Message):
        value = inner.get("Message-ID")
        return str(value).strip() if value else None
    text = _payload(part) if not isinstance(payload, list) else ""
    headers = email.message_from_string(text, policy=email.policy.default)
    value = headers.get("Message-ID")
    return str(value).strip() if value else None


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    return "" if value is None else _header_value(value)


def _header_value(value: Any) -> str:
    # A header the policy cannot parse comes back as text all the same.
    try:
        return str(value)
    except (ValueError, IndexError):  # pragma: no cover - a defect the policy kept
        return ""
