"""The WeCom, DingTalk and Feishu group robots against their stand-ins: signing by the
documented rules (fixed vectors), the body shapes each takes, throttling and refusals read
from the answer codes, and no key or secret in a failure reason."""

from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from channels.base import Context, OutboundMessage, PermanentFailure, TemporaryFailure
from channels.dingtalk import (
    DingtalkChannel,
    DingtalkChannelSettings,
    dingtalk_query,
    dingtalk_sign,
)
from channels.feishu import FeishuChannel, FeishuChannelSettings, feishu_sign
from channels.registry import CHANNELS, build_routes
from channels.wecom import WecomChannel, WecomChannelSettings
from service.core.extras import Extras
from tests.fakes.group_bots import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    FEISHU_HOOK,
    FEISHU_SECRET,
    WECOM_KEY,
    FakeDingtalk,
    FakeFeishu,
    FakeWecom,
)

# Vectors computed by hand from the providers' documented rules (not by the code tested):
# DingTalk: base64(HMAC-SHA256(key=secret, msg="1733400000000\nSEC…")), URL-encoded in the URL.
DING_SECRET = "SECb6f3e2a1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918"
DING_SIGN = "LiGO+nGiDElHmUESYeGfN5PvXbmO21yhmqNze7HAtg4="
DING_SIGN_IN_URL = "LiGO%2BnGiDElHmUESYeGfN5PvXbmO21yhmqNze7HAtg4%3D"
# Feishu: base64(HMAC-SHA256(key="1733400000\ndemoFeishuSecret", msg=b"")).
FEISHU_SIGN = "fsVXF6Aj922kw+k3ylAXo06dmU1sUDUZrQFHsd5+CeU="


def _message(
    secrets: tuple[str, ...], text: str = "3号楼跳蚤市场 周六 9:00", **kw: object
) -> OutboundMessage:
    return OutboundMessage(
        "msg_g1",
        "wecom",
        "group-1",
        "group_notice",
        "zh-CN",
        kw.pop("subject", ""),
        text,  # type: ignore[arg-type]
        secrets=secrets,
        **kw,  # type: ignore[arg-type]
    )


def test_dingtalk_sign_matches_the_documented_rule() -> None:
    assert dingtalk_sign(1733400000000, DING_SECRET) == DING_SIGN
    query = dingtalk_query("tok", DING_SECRET, 1733400000000)
    assert query == f"access_token=tok&timestamp=1733400000000&sign={DING_SIGN_IN_URL}"


def test_feishu_sign_matches_the_documented_rule() -> None:
    assert feishu_sign(1733400000, "demoFeishuSecret") == FEISHU_SIGN


async def test_wecom_posts_text_then_markdown_when_long_and_refuses_too_long() -> None:
    async with FakeWecom() as bot:
        channel = WecomChannel(replace(WecomChannelSettings(), enabled=True, api_url=bot.url))
        try:
            await channel.send(_message((WECOM_KEY,)))
            await channel.send(_message((WECOM_KEY,), "通知" * 400))  # 2,400 bytes
            with pytest.raises(PermanentFailure) as too_long:
                await channel.send(_message((WECOM_KEY,), "通知" * 800))
        finally:
            await channel.close()
    assert [p["msgtype"] for p in bot.posts] == ["text", "markdown"]
    assert bot.posts[0]["text"]["content"] == "3号楼跳蚤市场 周六 9:00"
    assert not too_long.value.address_gone


async def test_wecom_wrong_key_disables_the_group_without_showing_the_key() -> None:
    async with FakeWecom() as bot:
        channel = WecomChannel(replace(WecomChannelSettings(), enabled=True, api_url=bot.url))
        try:
            with pytest.raises(PermanentFailure) as refused:
                await channel.send(_message(("wrong-key-0123456789",)))
        finally:
            await channel.close()
    assert refused.value.address_gone
    assert "93000" in refused.value.reason
    assert "wrong-key-0123456789" not in refused.value.reason


async def test_dingtalk_signed_markdown_has_a_title_and_a_stale_clock_is_refused() -> None:
    async with FakeDingtalk() as bot:
        table = replace(DingtalkChannelSettings(), enabled=True, api_url=bot.url)
        channel = DingtalkChannel(table)
        stale = DingtalkChannel(table, clock=lambda: time.time() - 2 * 3600)
        try:
            await channel.send(_message((DINGTALK_TOKEN, DINGTALK_SECRET), subject="跳蚤市场"))
            with pytest.raises(PermanentFailure) as refused:
                await stale.send(_message((DINGTALK_TOKEN, DINGTALK_SECRET)))
            with pytest.raises(PermanentFailure) as bad_secret:
                await channel.send(_message((DINGTALK_TOKEN, "SECnot-the-secret")))
        finally:
            await channel.close()
            await stale.close()
    assert bot.posts[0]["msgtype"] == "markdown"
    assert bot.posts[0]["markdown"]["title"] == "跳蚤市场"
    assert refused.value.address_gone and "310000" in refused.value.reason
    assert bad_secret.value.address_gone
    for reason in (refused.value.reason, bad_secret.value.reason):
        assert DINGTALK_TOKEN not in reason and DINGTALK_SECRET not in reason
        assert "SECnot-the-secret" not in reason


async def test_dingtalk_over_the_limit_is_temporary_with_its_ten_minutes() -> None:
    async with FakeDingtalk() as bot:
        bot.limit_per_min = 1
        channel = DingtalkChannel(replace(DingtalkChannelSettings(), enabled=True, api_url=bot.url))
        try:
            await channel.send(_message((DINGTALK_TOKEN, DINGTALK_SECRET)))
            with pytest.raises(TemporaryFailure) as throttled:
                await channel.send(_message((DINGTALK_TOKEN, DINGTALK_SECRET)))
            bot.fail_next(90030)
            with pytest.raises(TemporaryFailure) as over_limit:
                await channel.send(_message((DINGTALK_TOKEN, DINGTALK_SECRET)))
        finally:
            await channel.close()
    assert throttled.value.retry_after == 600.0
    assert over_limit.value.retry_after == 600.0
    assert len(bot.posts) == 1


async def test_feishu_card_with_the_link_and_signature_checked() -> None:
    async with FakeFeishu() as bot:
        table = replace(FeishuChannelSettings(), enabled=True, api_url=bot.url)
        channel = FeishuChannel(table)
        stale = FeishuChannel(table, clock=lambda: time.time() + 2 * 3600)
        link = "https://linli.example/g/abc"
        try:
            await channel.send(
                _message(
                    (FEISHU_HOOK, FEISHU_SECRET), subject="跳蚤市场", extra=Extras(rsvp_url=link)
                )
            )
            await channel.send(_message((FEISHU_HOOK, FEISHU_SECRET)))
            with pytest.raises(PermanentFailure) as refused:
                await stale.send(_message((FEISHU_HOOK, FEISHU_SECRET)))
            bot.fail_next(11232)
            with pytest.raises(TemporaryFailure):
                await channel.send(_message((FEISHU_HOOK, FEISHU_SECRET)))
        finally:
            await channel.close()
            await stale.close()
    card, text = bot.posts
    assert card["msg_type"] == "interactive"
    assert card["card"]["elements"][1]["actions"][0]["url"] == link
    assert text == {
        "timestamp": text["timestamp"],
        "sign": text["sign"],
        "msg_type": "text",
        "content": {"text": "3号楼跳蚤市场 周六 9:00"},
    }
    assert refused.value.address_gone and "19021" in refused.value.reason
    assert FEISHU_SECRET not in refused.value.reason and FEISHU_HOOK not in refused.value.reason


def test_each_robot_is_limited_per_bot_by_the_token_buckets() -> None:
    tables = SimpleNamespace(**{spec.name: spec.settings() for spec in CHANNELS})
    tables.file = replace(tables.file, enabled=False)
    tables.wecom = replace(tables.wecom, enabled=True)
    tables.dingtalk = replace(tables.dingtalk, enabled=True, per_bot_per_min=6.0)
    routes = build_routes(tables, Context())
    # 20 a minute by default (the providers' own limit), configurable per channel.
    assert routes["wecom"].per_key_per_s == pytest.approx(20 / 60)
    assert routes["dingtalk"].per_key_per_s == pytest.approx(6 / 60)
    # The key is the group destination: each robot has its own bucket.
    one, other = _message((WECOM_KEY,)), replace(_message((WECOM_KEY,)), address="group-2")
    channel = routes["wecom"].channel
    assert channel.rate_key(one) == "group-1" and channel.rate_key(other) == "group-2"
