"""Quiet hours: the community's night, when SMS and Telegram messages wait for morning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _clock(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class QuietHours:
    """A nightly window in local time for some channels; start == end means none."""

    start: time
    end: time
    channels: frozenset[str]
    tz: ZoneInfo

    @classmethod
    def from_settings(
        cls, start: str, end: str, channels: tuple[str, ...], tz: ZoneInfo
    ) -> QuietHours:
        """Built from the [delivery] settings."""
        return cls(_clock(start), _clock(end), frozenset(channels), tz)

    def _inside(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:  # a window within one day, e.g. 13:00-14:00
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight, e.g. 21:00-08:00

    def next_allowed(self, moment: datetime, channel: str, *, urgent: bool = False) -> datetime:
        """`moment`, or the end of the quiet hours it falls in (urgent messages never wait)."""
        if urgent or channel not in self.channels:
            return moment
        local = moment.astimezone(self.tz)
        if not self._inside(local.time()):
            return moment
        end = datetime.combine(local.date(), self.end, tzinfo=self.tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.tz)
        return end.astimezone(UTC)
