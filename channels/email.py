"""Email over SMTP with aiosmtplib: a small pool of reused connections, iMIP invitations
and RFC 8058 one-click unsubscribe headers."""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr
from typing import Any, ClassVar, Final

import aiosmtplib

from service.core.config import at_least, between, not_empty, one_of, setting
from service.core.errors import SettingsError
from service.core.extras import Attachment

from .base import (
    Channel,
    Context,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    Receipt,
    TemporaryFailure,
    register,
)

_KEY: Final = "channels.email"
_MAX_REASON: Final = 200
# RFC 5321 4.2.5: 421 means the server is closing the channel, e.g. an idle pooled one.
_CLOSING: Final = 421


class _Wire(Compat32):
    """`email.policy.compat32` that writes headers as we composed them, on one line.

    Every header value is already wire-ready when set (RFC 2047 words for non-ASCII text,
    see `_compose`), so nothing is refolded; that keeps a long List-Unsubscribe URL on one
    line (RFC 5322 allows 998), which clients need to follow it. With `utf8` (RFC 6531,
    a non-ASCII mailbox) header bytes go out as UTF-8."""

    utf8: bool = False

    def fold_binary(self, name: str, value: str) -> bytes:
        return f"{name}: {value}{self.linesep}".encode("utf-8" if self.utf8 else "ascii")


# The legacy API, not EmailMessage: EmailPolicy parses and refolds every header through
# its header registry: 1.45 ms per invitation on this machine against 0.21 ms this way,
# and email is sent by the thousand.
_WIRE: Final = _Wire(linesep="\r\n")


class _WireUtf8(_Wire):
    """`_Wire` for SMTPUTF8 messages."""

    utf8 = True


_WIRE_UTF8: Final = _WireUtf8(linesep="\r\n")
# utf-8 bodies are base64: 7-bit, so the server needs no 8BITMIME.
_UTF8: Final = "utf-8"


@dataclass(frozen=True)
class EmailChannelSettings:
    """[channels.email]: SMTP through aiosmtplib."""

    enabled: bool = setting(False)
    host: str = setting("127.0.0.1", not_empty)
    port: int = setting(587, between(1, 65535))
    security: str = setting("starttls", one_of("none", "starttls", "tls"))
    username: str = setting("")
    password: str = setting("", secret=True)
    from_address: str = setting("linli@localhost", not_empty)
    from_name: str = setting("")
    timeout_s: float = setting(30.0, at_least(1))
    concurrency: int = setting(4, between(1, 100))
    rate_per_s: float = setting(0.0, at_least(0))


class _DroppedError(Exception):
    """The connection went away under a send; one retry on a fresh connection is due."""


@register
class EmailChannel(Channel):
    """SMTP delivery. Connections are opened on first use (so `start` does nothing), kept
    in a pool of up to `concurrency`, and replaced when the server has dropped them.

    The body is multipart/alternative: text/plain, text/html, then, for an invitation,
    the `ics` extra as `text/calendar; method=…` with the object's own METHOD. It is an
    alternative part only, not also an invite.ics attachment, as RFC 6047 2.4 describes
    and as calendar servers send it; a second copy makes some clients list the invitation
    twice. With inline attachments (a yes confirmation's check-in QR, drawn when it was
    composed) the HTML goes in a multipart/related beside them, each by its Content-ID.
    `Receipt.provider_id` is the Message-ID header, angle brackets included.

    Failures while connecting, saying EHLO or logging in are temporary whatever the code:
    they are about the server or our settings, not the message. In the mail transaction a
    4xx is temporary and a 5xx permanent. A retried send may deliver twice when the server
    dropped the connection after taking the data; the unchanged Message-ID lets mail
    systems drop the copy."""

    name: ClassVar[str] = "email"
    settings_class = EmailChannelSettings

    @classmethod
    def from_settings(cls, settings: Any, context: Context) -> EmailChannel:
        """The channel; the community's name is the sender's when from_name is empty."""
        return cls(settings, sender_name=context.community_name)

    def __init__(self, settings: EmailChannelSettings, *, sender_name: str) -> None:
        self._settings = settings
        self._sender = _checked_sender(settings, sender_name)
        self._from = formataddr((self._sender.display_name, self._sender.addr_spec), "utf-8")
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.concurrency)

    async def close(self) -> None:
        """Say QUIT on every pooled connection."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client in idle))

    async def send(self, message: OutboundMessage) -> Receipt:
        """Send one message on a pooled connection, retrying once if it was dropped."""
        # A non-ASCII mailbox (RFC 6531) needs SMTPUTF8; non-ASCII header text does not.
        utf8 = not message.address.isascii()
        data, message_id = self._compose(message, utf8=utf8)
        async with self._slots:
            try:
                client = await self._checkout()
                reply = await self._transmit(client, message.address, data, utf8=utf8)
            except _DroppedError:
                # Fresh, not another idle one: if the server restarted, those are stale too.
                client = await self._connect()
                try:
                    reply = await self._transmit(client, message.address, data, utf8=utf8)
                except _DroppedError as exc:
                    raise TemporaryFailure(str(exc)) from exc
        return Receipt(outcome=Outcome.SENT, provider_id=message_id, detail=_short(reply))

    def _compose(
        self, message: OutboundMessage, *, utf8: bool, by_hand: bool = True
    ) -> tuple[bytes, str]:
        """The message as it goes on the wire, and its Message-ID; `by_hand=False` always
        builds it with the email package (tests hold the two paths to the same bytes)."""
        message_id = f"<{message.id}@{self._sender.domain}>"
        unsubscribe = message.extra.unsubscribe_url or ""
        for name, value in (
            ("Subject", message.subject),
            ("To", message.address),
            ("List-Unsubscribe", unsubscribe),
            ("Content-Language", message.language),
        ):
            if "\r" in value or "\n" in value:
                # A line break would start a header of the sender's choosing (Bcc: …).
                raise PermanentFailure(f"cannot build the email: a line break in {name}")
        headers = [
            ("From", self._from),
            ("To", message.address),
            ("Subject", _encoded(message.subject)),
            # An aware UTC time gives RFC 5322's "+0000" (usegmt's "GMT" is obsolete).
            ("Date", format_datetime(datetime.now(UTC), usegmt=False)),
            ("Message-ID", message_id),
            ("Auto-Submitted", "auto-generated"),  # RFC 3834: no vacation replies
        ]
        if unsubscribe:
            headers.append(("List-Unsubscribe", f"<{unsubscribe}>"))
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        headers.append(("Content-Language", message.language))
        ics = message.extra.ics
        method = None if ics is None else _ics_method(ics)
        if by_hand and not message.extra.attachments and _plain_token(method):
            wire = _wire_bytes(headers, message.text, message.html, ics, method, message.id, utf8)
            return wire, message_id
        return self._compose_mime(message, headers, ics, method, utf8), message_id

    @staticmethod
    def _compose_mime(
        message: OutboundMessage,
        headers: list[tuple[str, str]],
        ics: str | None,
        method: str | None,
        utf8: bool,
    ) -> bytes:
        """The message built with the email package (what `_wire_bytes` writes by hand,
        plus the QR code's multipart/related)."""
        parts: list[Message] = [MIMEText(message.text, "plain", _UTF8)]
        if message.html is not None:
            html: Message = MIMEText(message.html, "html", _UTF8)
            inline = [a for a in message.extra.attachments if a.content_id is not None]
            if inline:
                html = _with_inline(html, inline, message.id)
            parts.append(html)
        if ics is not None:
            calendar = MIMEText(ics, "calendar", _UTF8)
            if method:
                calendar.set_param("method", method)
            parts.append(calendar)
        mime: Message
        if len(parts) == 1:
            mime = parts[0]
        else:
            # Our own boundary spares the generator a regex compiled per message to find
            # one absent from the parts: "=_" cannot occur in base64 bodies.
            boundary = f"=_linli_{message.id}"
            mime = MIMEMultipart("alternative", boundary, parts, policy=_WIRE)
            for part in parts:
                del part["MIME-Version"]  # only the top level carries it (RFC 2045 4)
        files = [_part(a, "attachment") for a in message.extra.attachments if not a.content_id]
        if files:
            del mime["MIME-Version"]
            mime = MIMEMultipart(
                "mixed", f"=_linli_mixed_{message.id}", [mime, *files], policy=_WIRE
            )
        for name, value in headers:
            mime[name] = value
        return mime.as_bytes(policy=_WIRE_UTF8 if utf8 else _WIRE)

    async def _checkout(self) -> aiosmtplib.SMTP:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
            client.close()
        return await self._connect()

    async def _connect(self) -> aiosmtplib.SMTP:
        settings = self._settings
        where = f"{settings.host}:{settings.port}"
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=settings.password or None,
            use_tls=settings.security == "tls",
            # False, not None: None would upgrade whenever the server offers STARTTLS.
            start_tls=settings.security == "starttls",
            timeout=settings.timeout_s,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"smtp {exc.code}: login to {where} refused") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise TemporaryFailure(_short(f"smtp {exc.code}: {_first_line(exc.message)}")) from exc
        except aiosmtplib.SMTPTimeoutError as exc:
            raise TemporaryFailure(f"smtp: timed out connecting to {where}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # aiosmtplib's messages name host, port and cause, never the credentials.
            raise TemporaryFailure(_short(f"smtp: {exc}")) from exc
        return client

    async def _transmit(
        self, client: aiosmtplib.SMTP, address: str, data: bytes, *, utf8: bool
    ) -> str:
        """One mail transaction; the connection goes back to the pool unless it is broken."""
        sender = self._sender.addr_spec
        try:
            _, reply = await client.sendmail(
                sender, [address], data, mail_options=["SMTPUTF8"] if utf8 else None
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            raise self._refused(client, refused.code, refused.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise self._refused(client, exc.code, exc.message) from exc
        except aiosmtplib.SMTPServerDisconnected as exc:
            client.close()
            raise _DroppedError("smtp: connection lost") from exc
        except aiosmtplib.SMTPNotSupported as exc:
            self._release(client)
            raise PermanentFailure("smtp: server cannot take this address (no SMTPUTF8)") from exc
        except ValueError as exc:  # an unsafe or unencodable address
            client.close()  # not always raised before MAIL, so the session may be mid-way
            raise PermanentFailure(_short(f"invalid address: {exc}")) from exc
        except aiosmtplib.SMTPTimeoutError as exc:
            client.close()  # a late reply would be read as the answer to the next command
            raise TemporaryFailure("smtp: timed out") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise TemporaryFailure(_short(f"smtp: {exc}")) from exc
        except BaseException:
            client.close()  # cancelled mid-transaction: the session state is unknown
            raise
        self._release(client)
        return reply

    def _refused(self, client: aiosmtplib.SMTP, code: int, text: str) -> Exception:
        reason = _short(f"smtp {code}: {_first_line(text)}")
        if code == _CLOSING:
            client.close()
            return _DroppedError(reason)
        # aiosmtplib has sent RSET, so the connection is fit for the next message.
        self._release(client)
        if 500 <= code < 600:
            return PermanentFailure(reason)
        return TemporaryFailure(reason)

    def _release(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self._idle.append(client)
        else:
            client.close()


def _checked_sender(settings: EmailChannelSettings, sender_name: str) -> Address:
    """The From address, or SettingsError naming the key that makes no sense."""
    try:
        Address(addr_spec=settings.from_address)
    except (ValueError, IndexError, HeaderParseError):
        raise SettingsError(
            f"{_KEY}.from_address: {settings.from_address!r} is not an email address"
        ) from None
    if settings.username and not settings.password:
        raise SettingsError(f"{_KEY}.password: must be set when {_KEY}.username is")
    if settings.password and not settings.username:
        raise SettingsError(f"{_KEY}.username: must be set when {_KEY}.password is")
    if settings.username and settings.security == "none" and not _is_loopback(settings.host):
        raise SettingsError(
            f"{_KEY}.security: 'none' would send the password in the clear to"
            f" {settings.host}; use starttls or tls"
        )
    try:
        return Address(
            display_name=settings.from_name or sender_name, addr_spec=settings.from_address
        )
    except ValueError:
        raise SettingsError(f"{_KEY}.from_name: must not contain line breaks") from None


def _with_inline(html: Message, inline: list[Attachment], uid: str) -> Message:
    """The HTML part with the images it shows by cid: beside it (the check-in QR as a PNG:
    mail clients strip inline SVG)."""
    parts = [html, *(_part(a, "inline") for a in inline)]
    for part in parts:
        del part["MIME-Version"]
    return MIMEMultipart("related", f"=_linli_qr_{uid}", parts, policy=_WIRE)


def _part(attachment: Attachment, disposition: str) -> Message:
    """An attachment as a MIME part, shown `inline` by its Content-ID or as an `attachment`."""
    maintype, _, subtype = attachment.content_type.partition("/")
    part: Message = (
        MIMEImage(attachment.data, subtype)
        if maintype == "image"
        else MIMEApplication(attachment.data, subtype or "octet-stream")
    )
    del part["MIME-Version"]
    if attachment.content_id is not None:
        part["Content-ID"] = f"<{attachment.content_id}>"
    part["Content-Disposition"] = f'{disposition}; filename="{attachment.filename}"'
    return part


def _plain_token(method: str | None) -> bool:
    """True when a calendar METHOD (or its absence) goes in the MIME type unescaped."""
    return method is None or method == "" or (method.isascii() and method.isalnum())


def _base64_body(text: str) -> bytes:
    """`text` as UTF-8 in base64 lines of 76 characters ending in CRLF, as email's
    base64 body encoding writes them; nothing for an empty text."""
    return base64.encodebytes(text.encode(_UTF8)).replace(b"\n", b"\r\n")


def _wire_bytes(
    headers: list[tuple[str, str]],
    text: str,
    html: str | None,
    ics: str | None,
    method: str | None,
    uid: str,
    utf8: bool,
) -> bytes:
    """The bytes `_compose_mime` makes for a message without a QR code, written directly:
    the email package took 0.2 ms a message, most of it parsing the parameters of headers
    it had just set. tests/test_email_wire.py holds the two to the same bytes."""
    encoding = "utf-8" if utf8 else "ascii"
    leaf = (
        b'Content-Type: text/plain; charset="utf-8"\r\n',
        b"Content-Transfer-Encoding: base64\r\n\r\n",
        _base64_body(text),
    )
    if html is None and ics is None:
        # One part: MIMEText's own headers, then ours.
        head = [leaf[0], b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n"]
        head += [f"{name}: {value}\r\n".encode(encoding) for name, value in headers]
        return b"".join((*head, b"\r\n", leaf[2]))
    boundary = f"=_linli_{uid}"
    parts = [b"".join(leaf)]
    if html is not None:
        parts.append(
            b'Content-Type: text/html; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + _base64_body(html)
        )
    if ics is not None:
        calendar = b'Content-Type: text/calendar; charset="utf-8"'
        if method:
            # set_param re-adds Content-Type after the transfer encoding.
            calendar = b"Content-Transfer-Encoding: base64\r\n" + calendar
            calendar += f'; method="{method}"\r\n\r\n'.encode("ascii")
        else:
            calendar += b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        parts.append(calendar + _base64_body(ics))
    head = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
        "MIME-Version: 1.0\r\n".encode(encoding)
    ]
    head += [f"{name}: {value}\r\n".encode(encoding) for name, value in headers]
    dash = f"--{boundary}".encode(encoding)
    body = (b"\r\n" + dash + b"\r\n").join(parts)
    return b"".join((*head, b"\r\n", dash, b"\r\n", body, b"\r\n", dash, b"--\r\n"))


# Longest header value written as it is (an event title is at most 200 characters).
_PLAIN_HEADER_MAX: Final = 200


@functools.lru_cache(maxsize=256)
def _encoded(text: str) -> str:
    """`text` as a header value: as it is when short plain ASCII, else RFC 2047 words,
    folded (a line may not pass 998 bytes, and ASCII that looks like "=?…?=" would be
    read as an encoded word)."""
    # Cached: every message of a send has the same subject, and encoding it was half of
    # composing the message.
    if text.isascii() and len(text) <= _PLAIN_HEADER_MAX and "=?" not in text:
        return text
    return Header(text, "utf-8").encode(linesep="\r\n")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ics_method(ics: str) -> str | None:
    """The calendar's METHOD, which the MIME type must repeat (RFC 6047 2.4)."""
    # Property lines start at column 0 and continuation lines with a space, so only the
    # VCALENDAR's own METHOD line can match.
    for line in ics.splitlines():
        name, colon, value = line.partition(":")
        if colon and name.upper() == "METHOD":
            return value.strip().upper()
    return None


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass  # going away anyway; QUIT is a courtesy
    finally:
        client.close()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
