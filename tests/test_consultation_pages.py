"""The residents' consultation pages: the needs page behind a signed link (raise a need,
support and withdraw) and the public notice board (names masked, only published
outcomes)."""

from __future__ import annotations

from urllib.parse import urlsplit

from service.keys import delivery_key
from tests.community import invited, nonce_of, open_page, resident
from tests.conftest import Api

ITEMS = "/api/v1/items"


def needs_path(api: Api, resident_id: int) -> str:
    return urlsplit(api.client.app[delivery_key].ready().links.needs(resident_id)).path


async def _post(api: Api, path: str, **form: str) -> tuple[int, str, str]:
    async with api.client.post(path, data=form, allow_redirects=False) as resp:
        return resp.status, await resp.text(), resp.headers.get("Location", "")


async def test_consultation_page_raises_a_need_once_and_supports(api: Api) -> None:
    rid = await resident(api, "张伟", "3-2-1501")
    status, item = await api.post(ITEMS, json={"title": "四点半课堂", "support_threshold": 3})
    assert status == 201
    path = needs_path(api, rid)
    status, html, _ = await open_page(api, path)
    assert status == 200 and "我的需求和建议" in html and "四点半课堂" in html
    assert "支持 1 户" not in html and "支持 0 户，满 3 户提交下次会议" in html
    nonce = nonce_of(html)
    for _ in range(2):  # a double tap records one need
        status, _, location = await _post(
            api, path, text="活动室冬天太冷", category="facility", nonce=nonce
        )
        assert status == 303 and location == f"{path}?saved=1"
    _, page = await api.get("/api/v1/needs")
    assert page["total"] == 1 and page["items"][0]["via"] == "page"
    status, html, _ = await open_page(api, f"{path}?saved=1")
    assert "收到了，谢谢" in html and "活动室冬天太冷" in html

    status, _, _ = await _post(api, f"{path}/support", item_id=str(item["id"]), action="support")
    assert status == 303
    _, html, _ = await open_page(api, path)
    assert "您已支持" in html and "支持 1 户" in html
    await _post(api, f"{path}/support", item_id=str(item["id"]), action="withdraw")
    _, got = await api.get(f"{ITEMS}/{item['id']}")
    assert got["support_count"] == 0


async def test_consultation_page_refuses_an_empty_need_and_a_forged_link(api: Api) -> None:
    rid = await resident(api, "张伟", "3-2-1501")
    path = needs_path(api, rid)
    status, html, _ = await _post(api, path, text="  ", nonce="n1")
    assert status == 400 and "text: must not be empty" in html
    status, _, _ = await open_page(api, path[:-2] + "xx")
    assert status == 404


async def test_consultation_board_masks_names_and_shows_only_published_outcomes(
    api: Api,
) -> None:
    rid = await resident(api, "张伟", "3-2-1501")
    _, need = await api.post("/api/v1/needs", json={"text": "冬天冷", "resident_id": rid})
    _, warm = await api.post(ITEMS, json={"title": "活动室冬季取暖", "need_ids": [need["id"]]})
    _, kids = await api.post(ITEMS, json={"title": "四点半课堂"})
    for item, words in ((warm, "12月起开暖气"), (kids, "下学期开办")):
        await api.post(
            f"{ITEMS}/{item['id']}/move",
            json={"status": "decided", "decision": "accepted", "outcome": words},
        )
    await api.post(f"{ITEMS}/publish", json={"item_ids": [warm["id"]]})
    status, html, _ = await open_page(api, "/board")
    assert status == 200 and "协商清单公示栏" in html
    assert "张*" in html and "张伟" not in html
    assert "12月起开暖气" in html and "下学期开办" not in html  # saved, not published
    assert "@page { size: A4" in html
    _, english, _ = await open_page(api, "/board?lang=en")
    assert "Consultation notice board" in english and "Outcome: accepted" in english


async def test_consultation_every_rsvp_page_links_to_the_needs_page(api: Api) -> None:
    _, [rid], [path] = await invited(api, settle=False)
    status, html, _ = await open_page(api, path)
    assert status == 200
    assert f'href="{needs_path(api, rid)}" id="needs-link">提需求、支持议题</a>' in html
