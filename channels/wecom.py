"""The WeCom (企业微信) group robot: POST {api_url}/cgi-bin/webhook/send?key=KEY with
msgtype "text" (content at most 2,048 bytes) or, for a longer notice, "markdown" (at most
4,096 bytes); mentioned_mobile_list @-mentions members by phone. Answer codes: 45009
(api freq out of limit, 20 a minute per robot) is temporary, -1 (system busy) too, 93000
(invalid webhook url: the key is wrong or the robot was removed) disables the group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import urlencode

from service.core.config import setting, url_or_empty

from .base import OutboundMessage, PermanentFailure, Receipt, register
from .groupbot import Codes, GroupBotChannel, GroupBotSettings, utf8_len

API_URL: Final = "https://qyapi.weixin.qq.com"
USER_AGENT: Final = "Linli-WeCom/1"
TEXT_LIMIT: Final = 2048
MARKDOWN_LIMIT: Final = 4096
CODES: Final = Codes(
    throttled=frozenset({45009}),
    throttled_wait_s=60.0,
    busy=frozenset({-1}),
    refused=frozenset({93000}),
)


@dataclass(frozen=True)
class WecomChannelSettings(GroupBotSettings):
    """[channels.wecom]: WeCom group robots (each group destination has its own key)."""

    api_url: str = setting(API_URL, url_or_empty)


def wecom_body(message: OutboundMessage, mobiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The robot's JSON body: text when it fits 2,048 bytes, else markdown."""
    text = message.text
    if utf8_len(text) <= TEXT_LIMIT:
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": text}}
        if mobiles:
            body["text"]["mentioned_mobile_list"] = list(mobiles)
        return body
    if utf8_len(text) > MARKDOWN_LIMIT:
        raise PermanentFailure(f"the notice is longer than WeCom's {MARKDOWN_LIMIT} bytes")
    return {"msgtype": "markdown", "markdown": {"content": text}}


@register
class WecomChannel(GroupBotChannel):
    """Posts to a WeCom group through its robot; the key is the message's first secret."""

    name: ClassVar[str] = "wecom"
    user_agent: ClassVar[str] = USER_AGENT
    settings_class = WecomChannelSettings
    codes = CODES

    async def send(self, message: OutboundMessage) -> Receipt:
        """Post the notice to the group's robot."""
        key, _ = self.credentials(message)
        url = f"{self.base_url}/cgi-bin/webhook/send?{urlencode({'key': key})}"
        return await self.deliver("WeCom", url, wecom_body(message), message)
