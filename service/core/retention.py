"""How long Linli keeps what it holds about residents: the [retention] settings, declared
here (neutral ground) so service/settings.py and the housekeeping chore share them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .config import between, setting

FOREVER: Final = 0
# No-shows are judged from the check-ins of events that started within the last 30 days
# (store/checkin.py NO_SHOW_LOOKBACK): check-ins must outlive that.
MIN_CHECKIN_DAYS: Final = 31


def _days(minimum: int) -> Callable[[Any], str | None]:
    """A check: 0 (keep forever) or at least `minimum` days, at most a century."""

    def check(value: Any) -> str | None:
        if value == FOREVER or minimum <= value <= 36_500:
            return None
        return f"must be 0 (keep forever) or between {minimum} and 36500 days"

    return check


@dataclass(frozen=True)
class RetentionSettings:
    """[retention]: how many days Linli keeps what it holds about residents; 0 keeps it."""

    message_bodies_days: int = setting(180, _days(1))
    attempts_days: int = setting(180, _days(1))
    inbound_days: int = setting(30, _days(1))
    checkins_days: int = setting(365, _days(MIN_CHECKIN_DAYS))
    batch: int = setting(500, between(1, 100_000))
