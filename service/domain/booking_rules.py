"""The room's booking rules: each check of a requested slot, and the 409 naming the rule broken."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final

from ..core.errors import ConflictError
from ..core.models import Room
from ..core.phrases import phrase
from ..store import Tx
from ..store import bookings as sql
from .rooms import WEEKDAYS, minutes_of

LANGUAGES: Final = ("zh-CN", "en")

# The rule field each refusal names.
RULE_FIELD: Final[Mapping[str, str]] = {
    "rule_max_length": "max_booking_minutes",
    "rule_min_notice": "min_notice_minutes",
    "rule_days_ahead": "max_days_ahead",
    "rule_household_week": "max_per_household_week",
    "room_closed": "closed_dates",
    "outside_hours": "opening_hours",
    "slot_taken": "starts_at",
    "starts_in_past": "starts_at",
}


def language_of(language: str | None) -> str:
    """A language the messages speak (zh-CN unless en)."""
    return language if language in LANGUAGES else LANGUAGES[0]


def refusal(code: str, language: str, **values: object) -> ConflictError:
    """A 409 naming the broken rule in `language`."""
    text = phrase(f"booking_rules.{code}", language_of(language), **values)
    return ConflictError(text, code=code, fields={RULE_FIELD[code]: text})


def refusal_text(room: Room, code: str, day: date, language: str) -> str | None:
    """What the refusal `code` said of a request for `day` in `room`, said again from the
    room's rules (a skipped week of a series, shown after the redirect); None for a code
    that is no rule's."""
    if code not in RULE_FIELD:
        return None
    values: dict[str, object] = {"day": day.isoformat()}
    if code == "outside_hours":
        hours = room.opening_hours.get(WEEKDAYS[day.weekday()], ()) if room.opening_hours else ()
        values["hours"] = _hours_text(hours, language_of(language))
    elif code == "slot_taken":
        values["n"] = room.buffer_minutes
    else:
        values["n"] = getattr(room, RULE_FIELD[code], "")
    return phrase(f"booking_rules.{code}", language_of(language), **values)


def local_day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The local day's first moment and the next day's."""
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


def _hours_text(ranges: Sequence[tuple[str, str]], language: str) -> str:
    if not ranges:
        return phrase("booking_rules.closed_all_day", language)
    return phrase("hours.list_sep", language).join(f"{a}–{b}" for a, b in ranges)


def check_slot(
    room: Room, starts: datetime, ends: datetime, now: datetime, tz: tzinfo, language: str
) -> None:
    """The rules that need no other booking: length, notice, days ahead, closed dates and
    opening hours. Raises the refusal naming the first rule broken."""
    if starts <= now:
        raise refusal("starts_in_past", language)
    minutes = (ends - starts) / timedelta(minutes=1)
    if room.max_booking_minutes is not None and minutes > room.max_booking_minutes:
        raise refusal("rule_max_length", language, n=room.max_booking_minutes)
    if starts - now < timedelta(minutes=room.min_notice_minutes):
        raise refusal("rule_min_notice", language, n=room.min_notice_minutes)
    local_start, local_end = starts.astimezone(tz), ends.astimezone(tz)
    ahead = (local_start.date() - now.astimezone(tz).date()).days
    if room.max_days_ahead is not None and ahead > room.max_days_ahead:
        raise refusal("rule_days_ahead", language, n=room.max_days_ahead)
    last_day = (local_end - timedelta(microseconds=1)).date()
    day = local_start.date()
    while day <= last_day:
        if day.isoformat() in room.closed_dates:
            raise refusal("room_closed", language, day=day.isoformat())
        day += timedelta(days=1)
    if not room.opening_hours:
        return
    ranges = room.opening_hours.get(WEEKDAYS[local_start.weekday()], ())
    begin = local_start.hour * 60 + local_start.minute
    if local_end.date() == local_start.date():
        end = local_end.hour * 60 + local_end.minute
    elif local_end == datetime.combine(local_start.date() + timedelta(days=1), time(0), tz):
        end = 24 * 60
    else:
        end = 24 * 60 + 1  # runs past midnight: no day's hours hold it
    if local_start.second or not any(
        minutes_of(a) <= begin and end <= minutes_of(b) for a, b in ranges
    ):
        raise refusal("outside_hours", language, hours=_hours_text(ranges, language))


async def household_rule(
    tx: Tx, room: Room, household_id: int | None, starts: datetime, tz: tzinfo, language: str
) -> None:
    """The one rule that reads the store: refused when the household already has the room's
    weekly limit of live bookings starting in that local week (Monday on)."""
    if room.max_per_household_week is None or household_id is None:
        return
    local = starts.astimezone(tz).date()
    monday = local - timedelta(days=local.weekday())
    week_start, _ = local_day_bounds(monday, tz)
    week_end, _ = local_day_bounds(monday + timedelta(days=7), tz)
    if await sql.household_count(tx, household_id, week_start, week_end) >= (
        room.max_per_household_week
    ):
        raise refusal("rule_household_week", language, n=room.max_per_household_week)
