"""Dates, times and opening hours as residents read them, in zh-CN or English."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from .phrases import Text

# The keys of a room's opening hours, Monday first.
WEEKDAY_KEYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAYS_ZH: Final = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WEEKDAYS_EN: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS_EN: Final = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def date_text(moment: datetime, language: str) -> str:
    """'12月5日（周六）09:00' or 'Sat 5 Dec, 09:00' (moment already in local time)."""
    if language == "en":
        return (
            f"{_WEEKDAYS_EN[moment.weekday()]} {moment.day} {_MONTHS_EN[moment.month - 1]},"
            f" {moment:%H:%M}"
        )
    return f"{moment.month}月{moment.day}日（{_WEEKDAYS_ZH[moment.weekday()]}）{moment:%H:%M}"


def time_text(moment: datetime) -> str:
    """'09:00'."""
    return f"{moment:%H:%M}"


def opening_hours_text(hours: Mapping[str, Sequence[Sequence[str]]], language: str) -> str:
    """A room's week of opening hours as one line: '每天 08:00–12:00、14:00–21:00', or
    'Mon–Fri 08:00–21:00; Sat, Sun closed' (days with the same hours side by side are
    said once). No hours at all means open all day."""
    say = Text(language)
    if not hours:
        return say("booking_page.all_day")
    sep = say("hours.list_sep")

    def spans(day: str) -> str:
        found = hours.get(day) or ()
        return sep.join(f"{a}–{b}" for a, b in found) or say("hours.closed")

    runs: list[tuple[list[str], str]] = []
    for day in WEEKDAY_KEYS:
        said = spans(day)
        if runs and runs[-1][1] == said:
            runs[-1][0].append(day)
        else:
            runs.append(([day], said))
    if len(runs) == 1:
        return f"{say('hours.every_day')} {runs[0][1]}"

    def days(run: list[str]) -> str:
        first, last = say(f"booking_page.{run[0]}"), say(f"booking_page.{run[-1]}")
        if len(run) == 1:
            return first
        if len(run) == 2:
            return sep.join((first, last))
        return say("hours.day_range", first=first, last=last)

    return say("hours.day_sep").join(f"{days(run)} {said}" for run, said in runs)
