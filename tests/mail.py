"""Helpers for the email channel on its own and for calendar parts: its settings against a
local SMTP sink, an opened channel, an outbound message, and a community event."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.base import OutboundMessage
from channels.email import EmailChannel, EmailChannelSettings
from service.core.models import Event, EventKind, EventStatus

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
FROM = "linli@linli.example.org"
COMMUNITY = "幸福里小区"


def email_settings(port: int, **changes: Any) -> EmailChannelSettings:
    defaults = {"host": "127.0.0.1", "security": "none", "from_address": FROM, "timeout_s": 5.0}
    return replace(EmailChannelSettings(), enabled=True, port=port, **(defaults | changes))


@contextlib.asynccontextmanager
async def opened(port: int, **changes: Any) -> AsyncIterator[EmailChannel]:
    email = EmailChannel(email_settings(port, **changes), sender_name=COMMUNITY)
    try:
        yield email
    finally:
        await email.close()


def outbound(**changes: Any) -> OutboundMessage:
    message = OutboundMessage(
        id="msg-42",
        channel="email",
        address="wang@example.org",
        kind="invitation",
        language="zh-CN",
        subject="邀请：周六跳蚤市场",
        text="周六上午十点，活动室。",
        html="<p>周六上午十点，<b>活动室</b>。</p>",
    )
    return replace(message, **changes)


def community_event(**changes: Any) -> Event:
    event = Event(
        id=7,
        kind=EventKind.FLEA_MARKET,
        title="跳蚤市场",
        description="带上闲置物品, bring what you no longer need",
        location="活动室",
        room_id=None,
        starts_at=NOW + timedelta(days=7),
        ends_at=NOW + timedelta(days=7, hours=2),
        capacity=None,
        max_party_size=4,
        rsvp_deadline=None,
        status=EventStatus.PUBLISHED,
        audience_tags=(),
        created_at=NOW,
        updated_at=NOW,
        published_at=NOW,
        cancelled_at=None,
        sequence=3,
    )
    return replace(event, **changes)
