"""The demo community's passbook: the points store's goods (米、油、洗衣液、抽纸) and some
households' history (past volunteer days, a bonus, redemptions). Idempotent: every posting
has a fixed key, goods are made once."""

from __future__ import annotations

import contextlib
import random
from datetime import datetime, timedelta
from typing import Final

from .core.errors import ConflictError
from .domain import passbook, points_store
from .domain.passbook import Credit
from .domain.points_store import Wanted
from .settings import Settings
from .store import Store
from .store import households as household_sql

# (name, points, stock, monthly limit per household)
GOODS: Final = (
    ("米", 30, 50, 2),
    ("油", 40, 30, 1),
    ("洗衣液", 20, 40, None),
    ("抽纸", 5, 200, None),
)


async def ensure_passbook(store: Store, settings: Settings, *, now: datetime) -> None:
    """The demo's goods and history, made once."""
    for name, price, stock, limit in GOODS:
        with contextlib.suppress(ConflictError):  # made by an earlier run
            await points_store.create_item(
                store, name=name, price=price, stock=stock, monthly_limit=limit, now=now
            )
    listed = await points_store.list_items(store.reader, active_only=False, limit=50, offset=0)
    goods = {item.name: item.id for item in listed.items}
    homes, _ = await household_sql.search_households(
        store.reader, text=None, building=None, limit=24, offset=0
    )
    picks = random.Random(17)  # the same history every run
    history = [
        ("demo:volunteer-oct", "earn", "志愿服务日：秋季大扫除", homes[:16], 20),
        ("demo:volunteer-nov", "earn", "志愿服务日：为独居老人送菜", homes[8:24], 30),
        ("demo:bonus-flea", "bonus", "跳蚤市场志愿摊主", homes[:6], 10),
    ]
    for key, kind, reason, who, points in history:
        await passbook.post_credits(
            store,
            [Credit(h.id, points + picks.randrange(0, 3) * 5) for h in who],
            kind=kind,
            key=key,
            operator="demo",
            reason=reason,
            settings=settings.passbook,
            now=now - timedelta(days=30),
        )
    for n, home in enumerate(homes[:5]):
        name = ("抽纸", "洗衣液", "米")[n % 3]
        # Not enough points or stock in a changed demo: it is history, not a rule.
        with contextlib.suppress(ConflictError):
            await points_store.redeem(
                store,
                [Wanted(goods[name], 1)],
                key=f"demo:redeem-{n}",
                operator="demo",
                now=now - timedelta(days=7),
                tz=settings.tz,
                household_id=home.id,
            )
