"""Group destinations: managed through the API (credentials never shown again), posted to
when an event is sent to an audience that reaches them (one post per group, beside one
personal message per resident), tested with a direct post, and disabled with a clear
reason, free of the key, when the robot refuses it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.community import (
    EVENTS,
    attendance,
    eventually,
    open_page,
    outbox_files,
    published_event,
    resident,
    settled,
    submit,
)
from tests.conftest import Api, MakeApi
from tests.fakes.group_bots import FEISHU_HOOK, FEISHU_SECRET, WECOM_KEY, FakeFeishu, FakeWecom

GROUPS = "/api/v1/groups"


@pytest.fixture
async def wecom() -> AsyncIterator[FakeWecom]:
    async with FakeWecom() as bot:
        yield bot


@pytest.fixture
async def feishu() -> AsyncIterator[FakeFeishu]:
    async with FakeFeishu() as bot:
        yield bot


@pytest.fixture
async def bots_api(make_api: MakeApi, wecom: FakeWecom, feishu: FakeFeishu) -> Api:
    """An app posting through the WeCom and Feishu stand-ins; residents' SMS go to files."""
    return await make_api(
        **{
            "channels.wecom.enabled": True,
            "channels.wecom.api_url": wecom.url,
            "channels.feishu.enabled": True,
            "channels.feishu.api_url": feishu.url,
        }
    )


async def group(api: Api, name: str, channel: str, credential: str, **more: Any) -> dict[str, Any]:
    status, created = await api.post(
        GROUPS, json={"name": name, "channel": channel, "credential": credential, **more}
    )
    assert status == 201, created
    return dict(created)


async def test_a_group_is_made_from_the_pasted_robot_address_and_never_shows_it(
    bots_api: Api,
) -> None:
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"
    created = await group(bots_api, "1号楼群", "wecom", url, tags=["1号楼"])
    status, listed = await bots_api.get(GROUPS)
    assert status == 200
    assert [g["name"] for g in listed["items"]] == ["1号楼群"]
    assert created["tags"] == ["1号楼"] and created["disabled_at"] is None
    assert WECOM_KEY not in str(listed) and WECOM_KEY not in str(created)
    status, taken = await bots_api.post(
        GROUPS, json={"name": "1号楼群", "channel": "wecom", "credential": WECOM_KEY}
    )
    assert status == 409 and taken["error"]["code"] == "group_name_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "wecom", "credential": "a b"}, "credential"),
        ({"channel": "wecom", "credential": WECOM_KEY, "signing_secret": "x"}, "signing_secret"),
        (
            {"channel": "dingtalk", "credential": "abcdef0123", "signing_secret": "x1"},
            "signing_secret",
        ),
        ({"channel": "qq", "credential": WECOM_KEY}, "channel"),
    ],
)
async def test_bad_group_input_is_a_400_naming_the_field(
    bots_api: Api, body: dict[str, str], field: str
) -> None:
    status, problem = await bots_api.post(GROUPS, json={"name": "群", **body})
    assert status == 400, problem
    assert field in problem["error"]["fields"]


async def test_an_event_posts_once_to_each_group_of_its_audience_beside_personal_messages(
    bots_api: Api, wecom: FakeWecom, feishu: FakeFeishu
) -> None:
    await group(bots_api, "1号楼群", "wecom", WECOM_KEY, tags=["1号楼"])
    await group(
        bots_api, "志愿者群", "feishu", FEISHU_HOOK, signing_secret=FEISHU_SECRET, tags=["1号楼"]
    )
    await group(bots_api, "3号楼群", "wecom", WECOM_KEY, tags=["3号楼"])
    await resident(bots_api, "张伟", "1-1-101", ("sms", "13800138001"), tags=["1号楼"])
    li_na = await resident(bots_api, "李娜", "1-2-202", ("sms", "13800138002"), tags=["1号楼"])
    await resident(bots_api, "王芳", "3-1-101", ("sms", "13800138003"), tags=["3号楼"])
    event_id = await published_event(bots_api, audience_tags=["1号楼"])

    status, report = await bots_api.post(f"{EVENTS}/{event_id}/send", params={"groups": "true"})
    assert status == 200, report
    assert report["group_posts"] == 2 and report["invited"] == 2
    assert report["by_channel"] == {"feishu": 1, "sms": 2, "wecom": 1}
    body = await settled(bots_api, event_id, total=4)
    channels = sorted(m["channel"] for m in body["messages"]["items"])
    assert channels == ["feishu", "sms", "sms", "wecom"]

    (post,) = await wecom.wait_posts(1)
    assert "跳蚤市场" in post["text"]["content"] and "/g/" in post["text"]["content"]
    (card,) = await feishu.wait_posts(1)
    assert card["msg_type"] == "interactive"

    # 李娜 answers through the group's link: her unit, then the code sent to her own SMS.
    link = re.search(r"https?://\S+/g/\S+", post["text"]["content"])
    assert link, post
    path = urlsplit(link.group(0)).path
    status, html, _ = await open_page(bots_api, path)
    assert status == 200 and 'name="unit"' in html
    async with bots_api.client.post(path, data={"unit": "1-2-202"}) as resp:
        assert resp.status == 200
        assert 'name="code"' in await resp.text()
    code = await eventually(lambda: _code_in_sms(bots_api, "13800138002"), bool, "a code by SMS")
    async with bots_api.client.post(
        path + "/code", data={"unit": "1-2-202", "code": "000000"}
    ) as resp:
        assert resp.status == 400 and 'id="problem"' in await resp.text()
    async with bots_api.client.post(
        path + "/code", data={"unit": "1-2-202", "code": code}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
        personal = resp.headers["Location"]
    assert personal.startswith("/r/")
    status, _ = await submit(bots_api, personal, answer="yes", party_size="1")
    assert status in (200, 303)
    # A spent code opens nothing again.
    async with bots_api.client.post(path + "/code", data={"unit": "1-2-202", "code": code}) as resp:
        assert resp.status == 400
    body = await attendance(bots_api, event_id)
    assert (body["invited"], body["yes"]) == (2, 1)
    assert [i["answer"] for i in body["items"] if i["resident_id"] == li_na] == ["yes"]

    # Sent again: nobody new, and no group gets the invitation twice.
    status, again = await bots_api.post(f"{EVENTS}/{event_id}/send", params={"groups": "true"})
    assert status == 200 and again["group_posts"] == 0 and again["invited"] == 0
    assert len(wecom.posts) == 1 and len(feishu.posts) == 1


async def _code_in_sms(api: Api, phone: str) -> str:
    """The latest group page code written to the SMS stand-in's files for `phone`."""
    for path in reversed(outbox_files(api, "sms")):
        text = path.read_text(encoding="utf-8")
        found = re.search(r"验证码是 (\d{6})", text)
        if phone in text and found:
            return found.group(1)
    return ""


async def test_groups_only_sends_no_personal_message(bots_api: Api, wecom: FakeWecom) -> None:
    await group(bots_api, "1号楼群", "wecom", WECOM_KEY)
    await resident(bots_api, "张伟", "1-1-101", ("sms", "13800138001"))
    event_id = await published_event(bots_api)
    status, report = await bots_api.post(
        f"{EVENTS}/{event_id}/send", params={"groups": "true", "personal": "false"}
    )
    assert status == 200, report
    assert report["group_posts"] == 1 and report["invited"] == 0
    await wecom.wait_posts(1)
    status, notified = await bots_api.post(
        f"{EVENTS}/{event_id}/notify",
        json={"kind": "update", "note": "改到北门", "groups": True, "personal": False},
    )
    assert status == 200 and notified["group_posts"] == 1, notified
    posts = await wecom.wait_posts(2)
    assert "改到北门" in posts[1]["text"]["content"]


async def test_a_refused_key_disables_the_group_with_a_reason_free_of_the_key(
    bots_api: Api, wecom: FakeWecom
) -> None:
    created = await group(bots_api, "1号楼群", "wecom", "wrong-key-0123456789")
    event_id = await published_event(bots_api)
    status, _ = await bots_api.post(
        f"{EVENTS}/{event_id}/send", params={"groups": "true", "personal": "false"}
    )
    assert status == 200

    async def state() -> dict[str, Any]:
        status, found = await bots_api.get(f"{GROUPS}/{created['id']}")
        assert status == 200
        return dict(found)

    found = await eventually(state, lambda g: g["disabled_at"] is not None, "disabled")
    assert "93000" in found["disabled_reason"]
    assert "wrong-key-0123456789" not in found["disabled_reason"]
    body = await settled(bots_api, event_id, total=1)
    (message,) = body["messages"]["items"]
    assert message["status"] == "failed" and "wrong-key" not in str(message)

    # Fixed: a new key and enabled again, then the test post goes through.
    status, fixed = await bots_api.patch(
        f"{GROUPS}/{created['id']}", json={"credential": WECOM_KEY, "enabled": True}
    )
    assert status == 200 and fixed["disabled_at"] is None, fixed
    status, result = await bots_api.post(f"{GROUPS}/{created['id']}/test", json={})
    assert status == 200 and result["ok"], result
    (post,) = await wecom.wait_posts(1)
    assert post["text"]["content"] == "Linli test / 测试消息"


async def test_a_resident_answers_a_groups_only_event_through_the_group_page(
    bots_api: Api, wecom: FakeWecom
) -> None:
    await group(bots_api, "1号楼群", "wecom", WECOM_KEY)
    zhang = await resident(bots_api, "张伟", "1-1-101", ("sms", "13800138001"))
    event_id = await published_event(bots_api)
    status, report = await bots_api.post(
        f"{EVENTS}/{event_id}/send", params={"groups": "true", "personal": "false"}
    )
    assert status == 200 and report["invited"] == 0, report
    (post,) = await wecom.wait_posts(1)
    found = re.search(r"https?://\S+/g/\S+", post["text"]["content"])
    assert found, post
    path = urlsplit(found.group(0)).path

    # A unit nobody lives at gets the same words, and no code goes anywhere.
    async with bots_api.client.post(path, data={"unit": "9-9-909"}) as resp:
        assert resp.status == 200 and 'id="sent"' in await resp.text()
    for _ in range(3):
        async with bots_api.client.post(path, data={"unit": "1-1-101"}) as resp:
            assert resp.status == 200
    async with bots_api.client.post(path, data={"unit": "1-1-101"}) as resp:
        assert resp.status == 429 and 'id="problem"' in await resp.text()
    code = await eventually(lambda: _code_in_sms(bots_api, "13800138001"), bool, "a code by SMS")
    async with bots_api.client.post(
        path + "/code", data={"unit": "1-1-101", "code": code}, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
        personal = resp.headers["Location"]
    status, _ = await submit(bots_api, personal, answer="yes", party_size="1")
    assert status in (200, 303)
    body = await attendance(bots_api, event_id)
    assert (body["invited"], body["yes"]) == (1, 1)
    assert [i["resident_id"] for i in body["items"]] == [zhang]


async def test_cancelling_with_notify_posts_the_cancellation_to_the_groups(
    bots_api: Api, wecom: FakeWecom
) -> None:
    await group(bots_api, "1号楼群", "wecom", WECOM_KEY)
    event_id = await published_event(bots_api)
    status, _ = await bots_api.post(
        f"{EVENTS}/{event_id}/cancel", json={"notify": True, "groups": True}
    )
    assert status == 200
    (post,) = await wecom.wait_posts(1)
    assert "取消" in post["text"]["content"] and "/g/" not in post["text"]["content"]
