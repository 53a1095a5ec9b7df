"""What a message carries beside its text, typed: links, the calendar part, answer buttons
and attachments. Composing fills them once (service/messages/compose.py); the outbox
stores them as JSON; channels read them. Nothing here knows events or residents.

The stored JSON keeps the keys rows had before these types ("rsvp_url", "unsubscribe_url",
"status_callback", "ttl_s", "ics", "buttons"), so a row queued before still reads;
"attachments" is new. A row from before may name a door code ("checkin_qr") instead of
carrying its picture: `legacy_qr_code` keeps it, and the worker renders it on the way out."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

# The Content-ID a confirmation email's HTML shows its check-in QR by (the templates say
# cid:checkin-qr@linli).
CHECKIN_QR_CID: Final = "checkin-qr@linli"


@dataclass(frozen=True)
class Button:
    """One inline button: it answers with `callback_data`, or opens `url`."""

    text: str
    callback_data: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, str]:
        """The button as Telegram's InlineKeyboardButton (and the stored JSON) spell it."""
        found = {"text": self.text}
        if self.callback_data is not None:
            found["callback_data"] = self.callback_data
        if self.url is not None:
            found["url"] = self.url
        return found


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message, rendered when it was composed. With `content_id`
    it is shown inside the HTML (cid:…) rather than listed as a download."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """The attachment as stored, its bytes in base64."""
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "data": base64.b64encode(self.data).decode("ascii"),
            "content_id": self.content_id,
        }


@dataclass(frozen=True)
class Extras:
    """A message's parts beside its text; each channel reads those it has a use for."""

    # The resident's page (every resident message).
    rsvp_url: str | None = None
    # Email: RFC 8058 one-click unsubscribe.
    unsubscribe_url: str | None = None
    # SMS (Twilio): where the provider posts delivery reports.
    status_callback: str | None = None
    # SMS (android gateway): seconds after which the phone gives up sending.
    ttl_s: int | None = None
    # Email: the iCalendar object, sent as a text/calendar alternative.
    ics: str | None = None
    # Telegram (and the file channel's transcript): rows of inline buttons.
    buttons: tuple[tuple[Button, ...], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    # A row queued before attachments: the door code whose QR is still to be drawn.
    legacy_qr_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form: only the parts present."""
        found: dict[str, Any] = {}
        for name in ("rsvp_url", "unsubscribe_url", "status_callback", "ttl_s", "ics"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        if self.buttons:
            found["buttons"] = [[b.to_json() for b in row] for row in self.buttons]
        if self.attachments:
            found["attachments"] = [a.to_json() for a in self.attachments]
        if self.legacy_qr_code is not None:
            found["checkin_qr"] = self.legacy_qr_code
        return found

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Extras:
        """Extras from their stored form, old or new; parts of the wrong shape are dropped
        (a row is never refused for its extras)."""
        if not raw:
            return _EMPTY
        return cls(
            rsvp_url=_text(raw.get("rsvp_url")),
            unsubscribe_url=_text(raw.get("unsubscribe_url")),
            status_callback=_text(raw.get("status_callback")),
            ttl_s=raw["ttl_s"] if type(raw.get("ttl_s")) is int else None,
            ics=_text(raw.get("ics")),
            buttons=_buttons(raw.get("buttons")),
            attachments=_attachments(raw.get("attachments")),
            legacy_qr_code=_text(raw.get("checkin_qr")),
        )


_EMPTY: Final = Extras()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _buttons(raw: object) -> tuple[tuple[Button, ...], ...]:
    if not _sequence(raw):
        return ()
    rows: list[tuple[Button, ...]] = []
    for row in raw:
        if not _sequence(row):
            continue
        buttons = tuple(
            Button(b["text"], _text(b.get("callback_data")), _text(b.get("url")))
            for b in row
            if isinstance(b, Mapping) and isinstance(b.get("text"), str)
        )
        if buttons:
            rows.append(buttons)
    return tuple(rows)


def _attachments(raw: object) -> tuple[Attachment, ...]:
    if not _sequence(raw):
        return ()
    found: list[Attachment] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        name, kind, data = (_text(item.get(k)) for k in ("filename", "content_type", "data"))
        if name is None or kind is None or data is None:
            continue
        found.append(Attachment(name, kind, base64.b64decode(data), _text(item.get("content_id"))))
    return tuple(found)


def _sequence(value: object) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)
