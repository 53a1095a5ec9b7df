"""Dates and times as residents read them, in zh-CN or English."""

from __future__ import annotations

from datetime import datetime
from typing import Final

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
