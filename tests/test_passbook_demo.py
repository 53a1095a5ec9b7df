"""`linli demo` gives the passbook goods, history and a counter token, once however often
it runs, and the books verify."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from service.demo import ensure_demo
from service.domain import counter, passbook
from service.settings import Settings
from service.store import Store

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


async def test_passbook_demo_has_goods_history_and_a_counter(
    settings: Settings, db_path: Path
) -> None:
    async with Store(db_path) as store:
        first = await ensure_demo(store, settings, now=NOW)
        again = await ensure_demo(store, settings, now=NOW)
        assert again.counter_token == first.counter_token
        await counter.counter(store.reader, first.counter_token, NOW)
        goods = [r[0] for r in await store.reader.fetchall("SELECT name FROM store_items")]
        assert sorted(goods) == sorted(["米", "油", "洗衣液", "抽纸"])
        kinds = dict(
            await store.reader.fetchall("SELECT kind, count(*) FROM ledger_postings GROUP BY kind")
        )
        assert kinds == {"earn": 2, "bonus": 1, "redeem": 5}
        drift, _ = await passbook.verify(store.reader)
        assert drift is None
        volunteer = await store.reader.fetchone(
            "SELECT count(*) FROM events WHERE kind = 'volunteer' AND status = 'published'"
        )
        assert volunteer is not None and volunteer[0] == 1  # it earns at check-in by default
