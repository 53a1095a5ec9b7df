"""Time: an injectable clock and the one text form times take in the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from typing import Final

Clock = Callable[[], datetime]
# The store keeps times as fixed-width text with four-digit years; outside this range a
# time would either not convert to UTC or not sort as text.
YEAR_MIN: Final = 1900
YEAR_MAX: Final = 9998
YEARS_TEXT: Final = f"year must be between {YEAR_MIN} and {YEAR_MAX}"


def in_years(day: date) -> bool:
    """True if `day` (or a datetime) falls within the years the store keeps."""
    return YEAR_MIN <= day.year <= YEAR_MAX


def system_clock() -> datetime:
    """The real time, aware, in UTC."""
    return datetime.now(UTC)


def to_db(moment: datetime) -> str:
    """An aware datetime as the fixed-width UTC text the store keeps (sorts as text)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime reached the store")
    # isoformat is several times faster than strftime, and the outbox formats a lot.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def utc_text(moment: datetime) -> str:
    """An aware datetime as webhook payloads write it: ISO 8601 in UTC with a `Z`."""
    # Integrators get UTC, as Standard Webhooks' own examples write it.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_db(text: str) -> datetime:
    """The store's UTC text back as an aware datetime."""
    # fromisoformat reads the trailing Z (Python 3.11+) and is far faster than strptime.
    return datetime.fromisoformat(text)


def opt_from_db(text: str | None) -> datetime | None:
    """`from_db` for a nullable column."""
    return None if text is None else from_db(text)


def localize(moment: datetime, tz: tzinfo) -> datetime:
    """Read a naive datetime as wall time in `tz`; an aware one is kept, in UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz).astimezone(UTC)
    return moment.astimezone(UTC)


def opt_to_db(moment: datetime | None) -> str | None:
    """`to_db` for a nullable column."""
    return None if moment is None else to_db(moment)
