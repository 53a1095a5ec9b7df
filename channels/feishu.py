"""The Feishu (飞书) custom bot: POST {api_url}/open-apis/bot/v2/hook/{hook id} with a JSON
body carrying timestamp (seconds, as a string) and sign, the base64 of HMAC-SHA256 keyed
with "{timestamp}\\n{secret}" over an empty message. A notice with a link is an
"interactive" card (title, text, one button), else msg_type "text". Answer codes ("code",
or the older "StatusCode"): 11232 (frequency limited) is temporary; 19021 (sign match fail
or timestamp not within an hour), 19001 (the hook's token is invalid) and 19022 (IP not
allowed) disable the group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import quote

from service.core.config import setting, url_or_empty

from .base import OutboundMessage, Receipt, register
from .groupbot import Codes, GroupBotChannel, GroupBotSettings, hmac_base64

API_URL: Final = "https://open.feishu.cn"
USER_AGENT: Final = "Linli-Feishu/1"
CODES: Final = Codes(
    throttled=frozenset({11232}),
    throttled_wait_s=60.0,
    busy=frozenset(),
    refused=frozenset({19021, 19001, 19022}),
)


@dataclass(frozen=True)
class FeishuChannelSettings(GroupBotSettings):
    """[channels.feishu]: Feishu custom bots (each group destination has its own hook id
    and signing secret)."""

    api_url: str = setting(API_URL, url_or_empty)


def feishu_sign(timestamp_s: int, secret: str) -> str:
    """base64(HMAC-SHA256 keyed with "timestamp\\nsecret" over an empty message)."""
    return hmac_base64(f"{timestamp_s}\n{secret}".encode(), b"")


def feishu_body(message: OutboundMessage) -> dict[str, Any]:
    """An interactive card when the notice has a link, else plain text."""
    link = message.extra.rsvp_url
    if link and message.subject:
        card = {
            "header": {"title": {"tag": "plain_text", "content": message.subject}},
            "elements": [
                {"tag": "div", "text": {"tag": "plain_text", "content": message.text}},
                {
                    "tag": "action",
                    "actions": [
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": message.subject},
                            "url": link,
                            "type": "primary",
                        }
                    ],
                },
            ],
        }
        return {"msg_type": "interactive", "card": card}
    return {"msg_type": "text", "content": {"text": message.text}}


@register
class FeishuChannel(GroupBotChannel):
    """Posts to a Feishu group through its custom bot; secrets are (hook id, secret)."""

    name: ClassVar[str] = "feishu"
    user_agent: ClassVar[str] = USER_AGENT
    settings_class = FeishuChannelSettings
    codes = CODES

    async def send(self, message: OutboundMessage) -> Receipt:
        """Post the notice, signed with the current time when the bot has a secret."""
        hook, secret = self.credentials(message)
        body = feishu_body(message)
        if secret:
            timestamp = int(self.clock())
            body = {"timestamp": str(timestamp), "sign": feishu_sign(timestamp, secret), **body}
        url = f"{self.base_url}/open-apis/bot/v2/hook/{quote(hook, safe='')}"
        return await self.deliver("Feishu", url, body, message)
