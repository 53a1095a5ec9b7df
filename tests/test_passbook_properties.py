"""Hypothesis: random sequences of earn, redeem, reverse, adjust and expire, each round run
concurrently, leave the books balanced, no balance negative, and no stock below zero."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.core.errors import ServiceError
from service.core.points import PassbookSettings
from service.domain import passbook, points_expiry, points_store
from service.domain.passbook import Credit
from service.domain.points_store import Wanted
from service.store import Store
from tests.passbook import households

START = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
EXPIRING = PassbookSettings(expiry_months=1)
HOUSEHOLDS = 3
STOCK = 6

household = st.integers(0, HOUSEHOLDS - 1)
op = st.one_of(
    st.tuples(st.just("earn"), household, st.integers(1, 40)),
    st.tuples(st.just("adjust"), household, st.integers(-30, 30).filter(bool)),
    st.tuples(st.just("redeem"), household, st.integers(0, 1), st.integers(1, 3)),
    st.tuples(st.just("reverse"), st.integers(0, 50)),
    st.tuples(st.just("expire"), st.integers(0, 45)),
)
rounds = st.lists(st.lists(op, min_size=1, max_size=5), min_size=1, max_size=8)


class Run:
    """One example's community: households, two goods, and the postings made so far."""

    def __init__(self, store: Store, homes: list[int], items: list[int]) -> None:
        self.store = store
        self.homes = homes
        self.items = items
        self.postings: list[int] = []
        self.now = START
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    async def apply(self, step: tuple[Any, ...]) -> None:
        kind, *args = step
        try:
            if kind in ("earn", "adjust"):
                who, points = args
                posted = await passbook.post_credits(
                    self.store,
                    [Credit(self.homes[who], points)],
                    kind=kind,
                    key=self.key(),
                    operator="t",
                    reason="r",
                    settings=EXPIRING,
                    now=self.now,
                )
                self.postings.append(posted.posting.id)
            elif kind == "redeem":
                who, item, quantity = args
                done = await points_store.redeem(
                    self.store,
                    [Wanted(self.items[item], quantity)],
                    key=self.key(),
                    operator="counter",
                    now=self.now,
                    tz=TZ,
                    household_id=self.homes[who],
                )
                self.postings.append(done.posting.id)
            elif kind == "reverse" and self.postings:
                (index,) = args
                await passbook.reverse(
                    self.store,
                    self.postings[index % len(self.postings)],
                    key=self.key(),
                    operator="t",
                    reason="undo",
                    now=self.now,
                )
            elif kind == "expire":
                (days,) = args
                self.now += timedelta(days=days)
                await points_expiry.lapse_due(self.store, now=self.now)
        except ServiceError:
            pass  # a refusal (insufficient_points, out_of_stock, …) is a fine outcome


async def _run(path: Path, plan: list[list[tuple[Any, ...]]]) -> None:
    async with Store(path, synchronous="OFF") as store:
        homes = await households(store, HOUSEHOLDS)
        items = [
            (
                await points_store.create_item(
                    store, name=name, price=price, stock=STOCK, monthly_limit=limit, now=START
                )
            ).id
            for name, price, limit in (("米", 10, None), ("油", 3, 2))
        ]
        run = Run(store, homes, items)
        for steps in plan:
            await asyncio.gather(*(run.apply(step) for step in steps))
        drift, _ = await passbook.verify(store.reader)
        assert drift is None, drift
        rows = await store.reader.fetchall(
            "SELECT balance FROM ledger_accounts WHERE kind = 'household'"
        )
        assert all(r[0] >= 0 for r in rows)
        for item in items:
            found = await points_store.get_item(store.reader, item)
            assert found.stock >= 0
            # What left the shelf is what live (unreversed) redemptions took.
            row = await store.reader.fetchone(
                "SELECT coalesce(sum(ri.quantity), 0) FROM redemption_items ri"
                " JOIN ledger_postings p ON p.redemption_id = ri.redemption_id"
                " WHERE ri.item_id = ? AND NOT EXISTS"
                " (SELECT 1 FROM ledger_postings v WHERE v.reverses_id = p.id)",
                (item,),
            )
            assert row is not None
            assert found.stock + int(row[0]) == STOCK


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=rounds)
def test_passbook_random_postings_keep_the_books(plan: list[list[tuple[Any, ...]]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_run(Path(folder) / "linli.db", plan))
