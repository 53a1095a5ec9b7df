"""The DingTalk (钉钉) custom robot: POST {api_url}/robot/send?access_token=…&timestamp=…
&sign=…, where timestamp is in milliseconds and sign is the URL-encoded base64 of
HMAC-SHA256 keyed with the robot's SEC… secret over "{timestamp}\\n{secret}" (DingTalk
refuses a timestamp more than an hour off). A notice with a subject is markdown (which
needs a title), else text; at.atMobiles @-mentions by phone. Answer codes: 90030 (webhook
over limit) and 130101 / 410100 (sending too fast; DingTalk then throttles the robot for
ten minutes) are temporary, -1 (busy) too; 310000 (sign not match, keyword or IP not
allowed), 300001 / 400101 (token does not exist) and 400102 (robot stopped) disable the
group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import urlencode

from service.core.config import setting, url_or_empty

from .base import OutboundMessage, Receipt, register
from .groupbot import Codes, GroupBotChannel, GroupBotSettings, hmac_base64

API_URL: Final = "https://oapi.dingtalk.com"
USER_AGENT: Final = "Linli-DingTalk/1"
CODES: Final = Codes(
    throttled=frozenset({90030, 130101, 410100}),
    throttled_wait_s=600.0,
    busy=frozenset({-1}),
    refused=frozenset({310000, 300001, 400101, 400102}),
)


@dataclass(frozen=True)
class DingtalkChannelSettings(GroupBotSettings):
    """[channels.dingtalk]: DingTalk custom robots (each group destination has its own
    access token and signing secret)."""

    api_url: str = setting(API_URL, url_or_empty)


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """The sign parameter before URL encoding: base64(HMAC-SHA256(secret, "ts\\nsecret"))."""
    return hmac_base64(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode())


def dingtalk_query(access_token: str, secret: str, timestamp_ms: int) -> str:
    """The URL's query: the token, and with a secret the timestamp and its sign."""
    params = {"access_token": access_token}
    if secret:
        params["timestamp"] = str(timestamp_ms)
        params["sign"] = dingtalk_sign(timestamp_ms, secret)
    return urlencode(params)


def dingtalk_body(message: OutboundMessage, mobiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """Markdown titled with the subject when there is one, else text."""
    body: dict[str, Any]
    if message.subject:
        body = {"msgtype": "markdown", "markdown": {"title": message.subject, "text": message.text}}
    else:
        body = {"msgtype": "text", "text": {"content": message.text}}
    body["at"] = {"atMobiles": list(mobiles), "isAtAll": False}
    return body


@register
class DingtalkChannel(GroupBotChannel):
    """Posts to a DingTalk group through its robot; secrets are (access token, SEC…)."""

    name: ClassVar[str] = "dingtalk"
    user_agent: ClassVar[str] = USER_AGENT
    settings_class = DingtalkChannelSettings
    codes = CODES

    async def send(self, message: OutboundMessage) -> Receipt:
        """Post the notice, signed with the current time."""
        token, secret = self.credentials(message)
        query = dingtalk_query(token, secret, int(self.clock() * 1000))
        url = f"{self.base_url}/robot/send?{query}"
        return await self.deliver("DingTalk", url, dingtalk_body(message), message)
