"""The demo community's consultation list: needs raised by residents and typed in at a
bench meeting, two items made of them (活动室冬季取暖, 四点半课堂) with some support, and
the demo's 板凳会 with both on its agenda. Made once; later runs leave it as it is."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from .core.consultation import NeedVia
from .core.models import EventKind
from .domain import events, items, meetings, needs
from .store import Store

# (unit, category, words, how it came): the needs behind each item.
WARM: Final = (
    ("1-1-301", "facility", "活动室冬天太冷，老人下棋坐不住，希望装暖气。", NeedVia.PAGE),
    ("2-2-501", "facility", "冬天活动室能不能开空调？晚上跳舞的人多。", NeedVia.SMS),
    ("3-1-201", "facility", "建议活动室冬季取暖，电费大家可以商量分摊。", NeedVia.ORGANISER),
)
KIDS: Final = (
    ("1-2-401", "activity", "双职工家庭孩子四点半放学没人接，希望办四点半课堂。", NeedVia.PAGE),
    ("2-1-601", "activity", "可以请退休老师志愿辅导作业吗？", NeedVia.TELEGRAM),
)
LONE: Final = (("3-2-801", "safety", "3号楼东侧路灯坏了，晚上看不清台阶。", NeedVia.SMS),)
ITEMS: Final = (
    ("活动室冬季取暖", "facility", "冬天活动室太冷：装暖气还是开空调，电费怎么分摊。", WARM, 9),
    ("四点半课堂", "activity", "放学后到家长下班前，孩子在活动室写作业，志愿者辅导。", KIDS, 14),
)
# Households (by unit) that support each item, drawn from the demo's 60.
SUPPORTERS: Final = 12


async def ensure_consultation(store: Store, *, now: datetime) -> int:
    """Add the demo's needs, items and agenda unless an item of the demo is there already;
    returns how many objects were made."""
    listed = await items.list_items(store, limit=500)
    if any(item.title == ITEMS[0][0] for item in listed.items):
        return 0
    made = 0
    item_ids = []
    for title, category, description, raised, supporters in ITEMS:
        need_ids = []
        for unit, need_category, words, via in raised:
            need = await needs.raise_need(
                store,
                needs.NeedInput(
                    text=words,
                    via=via,
                    actor="王组织" if via is NeedVia.ORGANISER else "resident",
                    category=need_category,
                    building=unit.split("-")[0],
                    unit=unit,
                ),
                now=now,
            )
            need_ids.append(need.id)
        item = await items.create_item(
            store,
            items.ItemInput(
                title=title, description=description, category=category, need_ids=need_ids
            ),
            actor="王组织",
            now=now,
        )
        item_ids.append(item.id)
        for household_id in range(1, supporters + 1):
            await items.set_support(
                store, item.id, supporting=True, household_id=household_id, via="page", now=now
            )
        made += len(need_ids) + 1
    for unit, category, words, via in LONE:
        await needs.raise_need(
            store,
            needs.NeedInput(text=words, via=via, actor="resident", category=category, unit=unit),
            now=now,
        )
        made += 1
    found = await events.list_events(
        store, status=[], starts_from=None, starts_before=None, limit=500, offset=0
    )
    bench = [e for e in found.items if e.kind is EventKind.MEETING and "板凳会" in e.title]
    if bench:
        await meetings.set_agenda(store, bench[0].id, item_ids, actor="王组织", now=now)
    return made
