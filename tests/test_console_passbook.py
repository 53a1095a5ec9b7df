"""The console's passbook page: credit households by unit, filter postings, reverse one,
add goods, and the CSV export; in both languages, with refusals beside their fields."""

from __future__ import annotations

import re

from tests.community import resident
from tests.conftest import Api
from tests.console import ConsoleClient
from tests.passbook import balance, household_of


def _nonce(text: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', text)
    assert found
    return found.group(1)


async def test_console_passbook_credit_reverse_and_goods(api: Api, console: ConsoleClient) -> None:
    a = await household_of(api, await resident(api, "张伟", "3-2-1501"))
    b = await household_of(api, await resident(api, "李娜", "3-2-1502"))
    page = await console.get("/console/passbook")
    assert page.status == 200 and page.has("积分存折") and page.has("批量记分")
    form = {"units": "3-2-1501，3-2-1502", "points": "6", "kind": "bonus", "reason": "扫雪"}
    form["nonce"] = _nonce(page.text)
    done = await console.post("/console/passbook/credit", form)
    assert done.status == 200 and done.flash and "已记账" in done.flash
    again = await console.post("/console/passbook/credit", form)  # the same form resent
    assert again.status == 200
    assert (await balance(api, a), await balance(api, b)) == (6, 6)

    bad = await console.post("/console/passbook/credit", {**form, "units": "9-9-9", "nonce": "n2"})
    assert bad.status == 400 and bad.error_for("units") == "没有门牌号为 9-9-9 的住户"
    bad = await console.post("/console/passbook/credit", {**form, "reason": "", "nonce": "n3"})
    assert bad.status == 400 and bad.error_for("reason")

    filtered = await console.get("/console/passbook?unit=3-2-1501&kind=bonus")
    assert filtered.has("共 1 笔") and filtered.has("3-2-1501 +6")
    posting = re.search(r'id="posting-(\d+)"', filtered.text)
    assert posting
    path = f"/console/passbook/postings/{posting.group(1)}/reversal"
    undone = await console.post(path, {"reason": "记错", "nonce": "r1"})
    assert undone.flash and "已冲正" in undone.flash
    assert (await balance(api, a), await balance(api, b)) == (0, 0)
    twice = await console.post(path, {"reason": "记错", "nonce": "r2"})
    assert (
        twice.status == 409
        and twice.error_for(f"reverse_{posting.group(1)}") == "这笔已经冲正过了。"
    )

    added = await console.post(
        "/console/store/items", {"name": "米", "price": "10", "stock": "20", "monthly_limit": ""}
    )
    assert (
        added.flash == "已添加商品：米。" and "<tr><td>米</td><td>10</td><td>20</td>" in added.text
    )
    bad = await console.post(
        "/console/store/items", {"name": "油", "price": "x", "stock": "1", "monthly_limit": ""}
    )
    assert bad.status == 400 and bad.error_for("price") == "请填写整数"

    english = await console.get("/console/passbook?lang=en")
    csv = await console.get("/console/passbook/export.csv")
    assert csv.status == 200 and csv.text.startswith("\ufeff记账号")
    assert english.status == 200
