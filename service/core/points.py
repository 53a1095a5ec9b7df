"""The [passbook] settings, declared here (neutral ground) so service/settings.py, the
passbook's rules and the housekeeping chore share them."""

from __future__ import annotations

from dataclasses import dataclass

from .config import between, setting


@dataclass(frozen=True)
class PassbookSettings:
    """[passbook]: how households earn points, and whether points expire."""

    volunteer_points: int = setting(10, between(0, 10_000))
    expiry_months: int = setting(0, between(0, 120))
    expiry_notice_days: int = setting(14, between(1, 90))
    leaderboard: bool = setting(True)
    # Whether housekeeping sends last month's statement to each household on its own
    # (early each month, once per household); POST /passbook/statements sends one anyway.
    monthly_statement: bool = setting(True)
