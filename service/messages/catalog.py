"""Which messages exist: their kinds, channels, languages and each channel's blocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..core.models import Channel

# Its own module so the renderer, the sample context and the web share one list without
# importing one another.
KINDS: Final = (
    "invitation",
    "reminder",
    "update",
    "cancellation",
    "rsvp_confirmation",
    "waitlist_offer",
    "booking_confirmation",
    "booking_pending",
    "booking_declined",
    "booking_reminder",
    "booking_cancellation",
    "points_statement",
    "points_expiry",
    "outcome_notice",
    "reconfirm",
    "reconfirm_released",
)
# The channels with templates of their own: the core enum, the one list of channel names.
CHANNELS: Final = tuple(channel.value for channel in Channel)
LANGUAGES: Final = ("zh-CN", "en")
# The blocks each channel's template must define, in the order they are rendered.
BLOCKS: Final[Mapping[str, tuple[str, ...]]] = {
    "sms": ("text",),
    "email": ("subject", "text", "html"),
    "telegram": ("text",),
    "webhook": ("payload",),
    # A group chat's post (WeCom, DingTalk, Feishu robots): a title and a short text.
    "group": ("subject", "text"),
}
# The template channel of every group robot, and the kinds posted to groups.
GROUP: Final = "group"
GROUP_KINDS: Final = ("invitation", "update", "cancellation", "reminder")
