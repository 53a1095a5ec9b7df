"""The console's group chats page: add a group from its pasted robot address (never shown
back), a bad one refused beside its field, a test post through the robot, turning one off,
and the send form's box that posts an event to the audience's groups beside the personal
messages, whose progress shows both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.community import published_event, resident
from tests.conftest import Api, MakeApi
from tests.console import ConsoleClient
from tests.fakes.group_bots import WECOM_KEY, FakeWecom


@pytest.fixture
async def wecom() -> AsyncIterator[FakeWecom]:
    async with FakeWecom() as bot:
        yield bot


@pytest.fixture
async def bots(make_api: MakeApi, wecom: FakeWecom) -> tuple[Api, ConsoleClient]:
    api = await make_api(**{"channels.wecom.enabled": True, "channels.wecom.api_url": wecom.url})
    browser = ConsoleClient(api.client)
    page = await browser.sign_in_token(api.token or "")
    assert page.url.startswith("/console"), page.text
    return api, browser


async def test_console_adds_tests_and_turns_off_a_group(
    bots: tuple[Api, ConsoleClient], wecom: FakeWecom
) -> None:
    _, console = bots
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"
    bad = await console.post(
        "/console/groups", {"name": "1号楼群", "channel": "wecom", "credential": "a b c"}
    )
    assert bad.status == 400 and bad.error_for("credential")
    page = await console.post(
        "/console/groups",
        {"name": "1号楼群", "channel": "wecom", "credential": url, "tags": "1号楼，志愿者"},
    )
    assert page.status == 200 and page.flash == "已添加 1号楼群。", page.text
    assert page.has("1号楼, 志愿者") and WECOM_KEY not in page.text
    group_id = page.text.split('id="group-')[1].split('"')[0]

    tested = await console.post(f"/console/groups/{group_id}/test")
    assert tested.by_id("h-result") == "测试消息已发到 1号楼群。"
    (post,) = await wecom.wait_posts(1)
    assert post["text"]["content"] == "这是一条来自邻里的测试消息。"

    off = await console.post(f"/console/groups/{group_id}/enabled", {"enabled": "0"})
    assert off.flash == "1号楼群 已停用。"


async def test_console_send_posts_to_the_groups_beside_personal_messages(
    bots: tuple[Api, ConsoleClient], wecom: FakeWecom
) -> None:
    api, console = bots
    await console.post(
        "/console/groups", {"name": "1号楼群", "channel": "wecom", "credential": WECOM_KEY}
    )
    await resident(api, "张伟", "1-1-101", ("sms", "13800138001"))
    event_id = await published_event(api)
    detail = await console.get(f"/console/events/{event_id}")
    assert detail.has("同时发到活动对象所在的群聊")
    page = await console.post(f"/console/events/{event_id}/send", {"send_groups": "1"})
    assert page.status == 200
    await wecom.wait_posts(1)
    progress = await console.get(f"/console/events/{event_id}/send")
    assert progress.has("企业微信群") and progress.has("短信")
