"""The links and button data residents receive, signed with the server secret: the RSVP
page, one-click unsubscribe, calendar download, answer actions, Telegram buttons and the
per-invitation reply address of a calendar invitation."""

from __future__ import annotations

import base64
import hmac
from typing import Final

from ..core.secret import base36, hmac_sha256, mac, read_id, sign_ids, verify_ids

RSVP: Final = "rsvp"
UNSUBSCRIBE: Final = "unsubscribe"
TELEGRAM: Final = "tg"
# A Telegram button supporting a consultation item ([M9]): its own purpose, so an answer
# button's MAC can never pass for one.
ITEM_BUTTON: Final = "tgi"
BOOKING: Final = "book"
PASSBOOK: Final = "passbook"
NEEDS: Final = "need"
CALENDAR_REPLY: Final = "itip"
GROUP_PAGE: Final = "grp"
# Telegram button actions: going, not going, maybe, one more person.
BUTTON_ACTIONS: Final = ("y", "n", "m", "p")


def rsvp_token(key: bytes, event_id: int, resident_id: int) -> str:
    """The invitation's token: the same in every message about this event to this resident."""
    return sign_ids(key, RSVP, event_id, resident_id)


def read_rsvp_token(key: bytes, token: str) -> tuple[int, int] | None:
    """(event id, resident id) from an RSVP token, or None."""
    found = verify_ids(key, RSVP, token, 2)
    return None if found is None else (found[0], found[1])


def group_token(key: bytes, event_id: int, group_id: int) -> str:
    """A group post's page token: the event and the group it was posted to."""
    return sign_ids(key, GROUP_PAGE, event_id, group_id)


def read_group_token(key: bytes, token: str) -> tuple[int, int] | None:
    """(event id, group id) from a group page token, or None."""
    found = verify_ids(key, GROUP_PAGE, token, 2)
    return None if found is None else (found[0], found[1])


def booking_token(key: bytes, resident_id: int) -> str:
    """A resident's room booking page token: the same in every message to them."""
    return sign_ids(key, BOOKING, resident_id)


def read_booking_token(key: bytes, token: str) -> int | None:
    """The resident id a booking page token names, or None."""
    found = verify_ids(key, BOOKING, token, 1)
    return None if found is None else found[0]


def passbook_token(key: bytes, household_id: int) -> str:
    """A household's passbook page token: the same in every message to its residents."""
    return sign_ids(key, PASSBOOK, household_id)


def read_passbook_token(key: bytes, token: str) -> int | None:
    """The household id a passbook page token names, or None."""
    found = verify_ids(key, PASSBOOK, token, 1)
    return None if found is None else found[0]


def needs_token(key: bytes, resident_id: int) -> str:
    """A resident's needs page token (raise a need, support items): the same every time."""
    return sign_ids(key, NEEDS, resident_id)


def read_needs_token(key: bytes, token: str) -> int | None:
    """The resident id a needs page token names, or None."""
    found = verify_ids(key, NEEDS, token, 1)
    return None if found is None else found[0]


def unsubscribe_token(key: bytes, contact_id: int) -> str:
    """The one-click unsubscribe token of a contact."""
    return sign_ids(key, UNSUBSCRIBE, contact_id)


def read_unsubscribe_token(key: bytes, token: str) -> int | None:
    """The contact id an unsubscribe token names, or None."""
    found = verify_ids(key, UNSUBSCRIBE, token, 1)
    return None if found is None else found[0]


def reply_token(key: bytes, event_id: int, resident_id: int) -> str:
    """The token in an invitation's reply address: signed like the RSVP token, but in
    lowercase letters, digits and dashes only, since mail systems may change the case of
    an address's local part (RFC 5321 lets them)."""
    head = f"{base36(event_id)}-{base36(resident_id)}"
    return f"{head}-{_reply_mac(key, head)}"


def read_reply_token(key: bytes, token: str) -> tuple[int, int] | None:
    """(event id, resident id) from a reply token in any case, or None when forged."""
    parts = token.lower().split("-")
    if len(parts) != 3 or not token.isascii():
        return None
    event_id, resident_id = read_id(parts[0]), read_id(parts[1])
    if event_id is None or resident_id is None:
        return None
    expected = _reply_mac(key, f"{parts[0]}-{parts[1]}")
    if not hmac.compare_digest(parts[2].encode(), expected.encode()):
        return None
    return event_id, resident_id


def _reply_mac(key: bytes, head: str) -> str:
    # 128 bits in base32: 26 characters, no padding.
    raw = hmac_sha256(key, f"{CALENDAR_REPLY}\x00{head}".encode())[:16]
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def reply_address(mailbox: str, token: str) -> str:
    """`local+token@domain` for the community's reply mailbox `local@domain`."""
    local, _, domain = mailbox.rpartition("@")
    return f"{local}+{token}@{domain}"


def reply_token_of(mailbox: str, address: str) -> str | None:
    """The token of `address` when it is `mailbox` with a `+token` (any case), else None."""
    local, _, domain = mailbox.lower().rpartition("@")
    got_local, at, got_domain = address.strip().lower().rpartition("@")
    base, plus, token = got_local.partition("+")
    if not at or got_domain != domain or base != local or not plus or not token:
        return None
    return token


class Links:
    """Absolute URLs under the server's public URL."""

    def __init__(self, key: bytes, public_url: str) -> None:
        self.key = key
        self.base = public_url.rstrip("/")

    def rsvp(self, event_id: int, resident_id: int) -> str:
        """The resident's RSVP page for an event."""
        return f"{self.base}/r/{rsvp_token(self.key, event_id, resident_id)}"

    def group(self, event_id: int, group_id: int) -> str:
        """The group RSVP page of an event posted to a group: unit, then a one-time code."""
        return f"{self.base}/g/{group_token(self.key, event_id, group_id)}"

    def booking(self, resident_id: int) -> str:
        """The resident's room booking page."""
        return f"{self.base}/b/{booking_token(self.key, resident_id)}"

    def passbook(self, household_id: int) -> str:
        """The household's passbook page (积分存折)."""
        return f"{self.base}/p/{passbook_token(self.key, household_id)}"

    def needs(self, resident_id: int) -> str:
        """The resident's needs page: raise a need, support or withdraw from items."""
        return f"{self.base}/n/{needs_token(self.key, resident_id)}"

    def board(self) -> str:
        """The public notice board of the consultation list."""
        return f"{self.base}/board"

    @staticmethod
    def calendar(page: str) -> str:
        """The event as an .ics file, under the RSVP page `page`."""
        return f"{page}/event.ics"

    @staticmethod
    def actions(page: str) -> dict[str, str]:
        """Signed URLs (the page's token signs them) an integrator's bot POSTs to answer for
        the resident."""
        return {answer: f"{page}/{answer}" for answer in ("yes", "no", "maybe")}

    def unsubscribe(self, contact_id: int) -> str:
        """RFC 8058 one-click unsubscribe URL."""
        return f"{self.base}/u/{unsubscribe_token(self.key, contact_id)}"

    def sms_status_callback(self) -> str:
        """Where Twilio posts status callbacks."""
        return f"{self.base}/hooks/sms/twilio"


def button_data(key: bytes, event_id: int, resident_id: int, action: str) -> str:
    """Telegram callback_data (at most 64 bytes) carrying a MAC, so tampering is refused."""
    head = f"{base36(event_id)}.{base36(resident_id)}.{action}"
    return f"{head}.{mac(key, TELEGRAM, head, size=12)}"


def read_button_data(key: bytes, data: str) -> tuple[int, int, str] | None:
    """(event id, resident id, action) from callback_data, or None when forged."""
    # Telegram passes on whatever a client puts here: odd text must not reach mac().
    parts = data.split(".")
    if len(parts) != 4 or parts[2] not in BUTTON_ACTIONS or not data.isascii():
        return None
    event_id, resident_id = read_id(parts[0]), read_id(parts[1])
    if event_id is None or resident_id is None:
        return None
    head = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), mac(key, TELEGRAM, head, size=12).encode()):
        return None
    return event_id, resident_id, parts[2]


def item_button_data(key: bytes, item_id: int, resident_id: int) -> str:
    """Telegram callback_data supporting an item for a resident's household, with a MAC."""
    head = f"i.{base36(item_id)}.{base36(resident_id)}"
    return f"{head}.{mac(key, ITEM_BUTTON, head, size=12)}"


def read_item_button_data(key: bytes, data: str) -> tuple[int, int] | None:
    """(item id, resident id) from an item button's callback_data, or None when forged."""
    parts = data.split(".")
    if len(parts) != 4 or parts[0] != "i" or not data.isascii():
        return None
    item_id, resident_id = read_id(parts[1]), read_id(parts[2])
    if item_id is None or resident_id is None:
        return None
    head = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), mac(key, ITEM_BUTTON, head, size=12).encode()):
        return None
    return item_id, resident_id
