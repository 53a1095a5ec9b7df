"""Helpers that set up a community through the API: residents, published events, and
waiting for the outbox to settle."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.keys import settings_key
from tests.conftest import Api
from tests.fakes.sms_gateway import FakeSmsGateway

EVENTS = "/api/v1/events"


async def resident(api: Api, name: str, unit: str, *contacts: tuple[str, str], **kw: Any) -> int:
    body = {
        "name": name,
        "unit": unit,
        "contacts": [{"channel": c, "address": a} for c, a in contacts],
    }
    body.update(kw)
    status, created = await api.post("/api/v1/residents", json=body)
    assert status == 201, created
    return int(created["id"])


async def published_event(api: Api, **fields: Any) -> int:
    body: dict[str, Any] = {
        "kind": "flea_market",
        "title": "跳蚤市场",
        "location": "中心广场",
        "starts_at": "2026-12-05T09:00",
        "ends_at": "2026-12-05T12:00",
    }
    body.update(fields)
    status, event = await api.post(EVENTS, json=body)
    assert status == 201, event
    status, _ = await api.post(f"{EVENTS}/{event['id']}/publish")
    assert status == 200
    return int(event["id"])


async def until(
    api: Api, event_id: int, done: Callable[[dict[str, int]], bool], what: str
) -> dict[str, Any]:
    """The event's deliveries once `done(counts by status)` holds (or an AssertionError)."""
    for _ in range(400):
        status, body = await api.get(f"{EVENTS}/{event_id}/deliveries", params={"limit": "500"})
        assert status == 200, body
        if done(body["by_status"]):
            return dict(body)
        await asyncio.sleep(0.02)
    raise AssertionError(f"never {what}: {body['by_status']}")


async def settled(api: Api, event_id: int, *, total: int) -> dict[str, Any]:
    """The deliveries once `total` messages exist and none is queued or sending any more."""
    return await until(
        api,
        event_id,
        lambda c: sum(c.values()) >= total and c["queued"] == 0 and c["sending"] == 0,
        f"settled with {total} messages",
    )


def outbox_files(api: Api, channel: str) -> list[Path]:
    root = Path(api.client.app[settings_key].channels.file.path) / channel
    return sorted(root.glob("*.txt")) if root.exists() else []


async def invited_by_sms(
    api: Api, *, language: str = "zh-CN", **event: Any
) -> tuple[int, int, str]:
    """One resident invited by SMS (file channel) to a new event; (event, resident, the
    link in the message they got)."""
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"), language=language)
    event_id = await published_event(api, **{"max_party_size": 4, **event})
    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200 and report["invited"] == 1, report
    await settled(api, event_id, total=1)
    [message] = outbox_files(api, "sms")
    link = re.search(r"https?://\S+/r/[\w.~-]+", message.read_text(encoding="utf-8"))
    assert link, message.read_text(encoding="utf-8")
    return event_id, rid, link.group(0)


def assert_fell_back(body: dict[str, Any], first: str, status: str, then: str) -> None:
    """In a deliveries answer: the message on channel `first` ended `status`, and its
    fallback on `then`, in the same group, was delivered."""
    by_channel = {m["channel"]: m for m in body["messages"]["items"]}
    assert by_channel[first]["status"] == status
    assert by_channel[then]["status"] == "delivered"
    assert by_channel[then]["group_uid"] == by_channel[first]["uid"]


def sms_gateway_settings(gateway: FakeSmsGateway) -> dict[str, Any]:
    """A real SMS channel (the Android gateway stand-in): quiet hours apply to it."""
    return {
        "channels.sms.enabled": True,
        "channels.sms.url": gateway.url,
        "channels.sms.username": gateway.username,
        "channels.sms.password": gateway.password,
    }
