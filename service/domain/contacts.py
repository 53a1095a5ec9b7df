"""Contact addresses in canonical form, so one phone number or email is stored one way."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

import phonenumbers
from email_validator import validate_email

from ..core.errors import ValidationError
from ..core.models import Channel
from ..core.text import text_problem

MAX_ADDRESS: Final = 2048
_TELEGRAM_CHAT_ID: Final = re.compile(r"-?[0-9]{1,19}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\s]")


def _problem(reason: str) -> ValidationError:
    return ValidationError.field("address", reason)


def canonical_phone(raw: str, *, region: str) -> str:
    """A phone number as E.164 (+8613812345678); national numbers are read in `region`."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise _problem(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise _problem(f"{raw!r} is not a valid phone number (read in region {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_or_none(raw: str, *, region: str) -> str | None:
    """The E.164 form of `raw` if it is a valid phone number, else None (for searches)."""
    try:
        return canonical_phone(raw, region=region)
    except ValidationError:
        return None


def _email(raw: str) -> str:
    try:
        checked = validate_email(raw, check_deliverability=False)
    except ValueError as exc:  # EmailNotValidError, and idna's errors, are ValueErrors
        raise _problem(f"{raw!r} is not a valid email address: {exc}") from None
    # The local part is case-sensitive by the RFC, but no mail system people use treats it so,
    # and lowercasing lets the same address typed twice match.
    return checked.normalized.lower()


def _telegram(raw: str) -> str:
    if not _TELEGRAM_CHAT_ID.fullmatch(raw):
        raise _problem(f"{raw!r} is not a Telegram chat id (a whole number, may be negative)")
    return str(int(raw))


def _webhook(raw: str) -> str:
    if _CONTROL.search(raw):
        raise _problem("a webhook URL must not contain spaces or control characters")
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises ValueError on a port out of range
    except ValueError as exc:
        raise _problem(f"{raw!r} is not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _problem("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise _problem("a webhook URL must name a host")
    # Where the URL points (private addresses, loopback) is checked when delivering, since
    # DNS can change between now and then.
    return raw


def canonical_address(channel: Channel, raw: str, *, region: str) -> str:
    """`raw` in the one form stored for `channel`, or a 400 naming `address` and why."""
    raw = raw.strip()
    if not raw:
        raise _problem("must not be empty")
    if len(raw) > MAX_ADDRESS:
        raise _problem(f"must be at most {MAX_ADDRESS} characters")
    problem = text_problem(raw)
    if problem:
        raise _problem(problem)
    if channel is Channel.SMS:
        return canonical_phone(raw, region=region)
    if channel is Channel.EMAIL:
        return _email(raw)
    if channel is Channel.TELEGRAM:
        return _telegram(raw)
    return _webhook(raw)
