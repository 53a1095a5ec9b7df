"""Stand-ins for the three group robots on 127.0.0.1, each checking what its provider's
documentation says a request must be, and answering with its codes:

    WeCom     POST /cgi-bin/webhook/send?key=KEY      msgtype text (<= 2048 bytes) |
              markdown (<= 4096) | news; 93000 for a wrong key, 45009 when throttled
    DingTalk  POST /robot/send?access_token=&timestamp=&sign=   sign = base64 HMAC-SHA256
              (secret, "ts\\nsecret"), ts in ms within an hour; markdown needs a title;
              310000 for a bad sign, 300001 for a wrong token, 130101 when throttled
    Feishu    POST /open-apis/bot/v2/hook/{id}        body timestamp (s, within an hour)
              + sign = base64 HMAC-SHA256 keyed "ts\\nsecret" over b""; msg_type text |
              interactive; 19021 for a bad sign, 19001 for a wrong hook, 11232 throttled

    async with FakeWecom() as bot:
        bot.fail_next(45009)          # the next post answers that code (HTTP 200)
        bot.limit_per_min = 2         # throttle past 2 posts a minute, as the robot does
        bot.posts                     # the accepted bodies
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import time
from typing import Any, ClassVar, Final

from aiohttp import web

from .server import FakeHttpServer

WECOM_KEY: Final = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN: Final = "9a4f1e0c7d2b4e85a3f6c1d0b8e7a2f4"
DINGTALK_SECRET: Final = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
FEISHU_HOOK: Final = "2ab4c6d8-1e3f-4a5b-9c7d-0e1f2a3b4c5d"
FEISHU_SECRET: Final = "fsSecretK3y0123456789"
HOUR_S: Final = 3600


def _sign(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


class FakeGroupBot(FakeHttpServer):
    """What the three share: recorded posts, scripted failure codes, a per-minute limit."""

    shutdown_timeout_s: ClassVar[float] = 0.5
    code_key: ClassVar[str] = "errcode"
    msg_key: ClassVar[str] = "errmsg"
    throttled: ClassVar[int]

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []
        self.refused: list[int] = []  # codes answered to requests it refused
        self.limit_per_min = 0  # 0: no limit
        self._recent: collections.deque[float] = collections.deque()
        self._scripted: collections.deque[int] = collections.deque()

    def fail_next(self, code: int) -> None:
        """Answer the next post with `code` (in an HTTP 200, as these robots do)."""
        self._scripted.append(code)

    def _answer(self, code: int, message: str) -> web.Response:
        if code:
            self.refused.append(code)
        return web.json_response({self.code_key: code, self.msg_key: message})

    async def _judge(self, request: web.Request, check: Any) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return self._answer(400, "invalid json")
        if self._scripted:
            return self._answer(self._scripted.popleft(), "scripted failure")
        refusal = check(request, body)
        if refusal is not None:
            return self._answer(*refusal)
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 60:
            self._recent.popleft()
        if self.limit_per_min and len(self._recent) >= self.limit_per_min:
            return self._answer(self.throttled, "send too fast")
        self._recent.append(now)
        self.posts.append(body)
        self._changed.set()
        return self._answer(0, "ok")

    async def wait_posts(self, count: int, within_s: float = 10) -> list[dict[str, Any]]:
        """The posts once there are `count` of them."""
        await self._until(
            lambda: len(self.posts) >= count, within_s, lambda: f"posts: {self.posts}"
        )
        return self.posts


def _within_hour(stamp_s: float) -> bool:
    return abs(time.time() - stamp_s) <= HOUR_S


class FakeWecom(FakeGroupBot):
    """The WeCom group robot's webhook."""

    throttled = 45009

    def __init__(self, key: str = WECOM_KEY) -> None:
        super().__init__()
        self.key = key

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/cgi-bin/webhook/send", self._send)

    async def _send(self, request: web.Request) -> web.Response:
        return await self._judge(request, self._check)

    def _check(self, request: web.Request, body: Any) -> tuple[int, str] | None:
        if request.query.get("key") != self.key:
            return 93000, "invalid webhook url"
        kind = body.get("msgtype")
        part = body.get(kind) if isinstance(kind, str) else None
        if kind not in ("text", "markdown", "news") or not isinstance(part, dict):
            return 40008, "invalid message type"
        if kind == "text":
            content = part.get("content")
            if not isinstance(content, str) or not content:
                return 44004, "text content is empty"
            if len(content.encode()) > 2048:
                return 40058, "text content exceed max length 2048"
            mobiles = part.get("mentioned_mobile_list", [])
            if not isinstance(mobiles, list):
                return 40058, "mentioned_mobile_list must be a list"
        if kind == "markdown":
            content = part.get("content")
            if not isinstance(content, str) or len(content.encode()) > 4096:
                return 40058, "markdown content exceed max length 4096"
        return None


class FakeDingtalk(FakeGroupBot):
    """The DingTalk custom robot's webhook, with signing on."""

    throttled = 130101

    def __init__(self, token: str = DINGTALK_TOKEN, secret: str = DINGTALK_SECRET) -> None:
        super().__init__()
        self.token = token
        self.secret = secret

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/robot/send", self._send)

    async def _send(self, request: web.Request) -> web.Response:
        return await self._judge(request, self._check)

    def _check(self, request: web.Request, body: Any) -> tuple[int, str] | None:
        query = request.query
        if query.get("access_token") != self.token:
            return 300001, "token is not exist"
        stamp = query.get("timestamp", "")
        if not stamp.isdigit() or not _within_hour(int(stamp) / 1000):
            return 310000, "sign not match, timestamp is out of range"
        expected = _sign(self.secret.encode(), f"{stamp}\n{self.secret}".encode())
        # aiohttp has URL-decoded the query already: the sign compares as base64.
        if not hmac.compare_digest(query.get("sign", ""), expected):
            return 310000, "sign not match"
        kind = body.get("msgtype")
        part = body.get(kind) if isinstance(kind, str) else None
        if kind not in ("text", "markdown", "link", "actionCard") or not isinstance(part, dict):
            return 40035, "msgtype is invalid"
        if kind == "text" and not part.get("content"):
            return 40035, "content is empty"
        if kind == "markdown" and not (part.get("title") and part.get("text")):
            return 40035, "markdown needs title and text"
        at = body.get("at", {})
        if not isinstance(at, dict) or not isinstance(at.get("atMobiles", []), list):
            return 40035, "at.atMobiles must be a list"
        return None


class FakeFeishu(FakeGroupBot):
    """The Feishu custom bot's webhook, with signing on."""

    throttled = 11232
    code_key = "code"
    msg_key = "msg"

    def __init__(self, hook: str = FEISHU_HOOK, secret: str = FEISHU_SECRET) -> None:
        super().__init__()
        self.hook = hook
        self.secret = secret

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/open-apis/bot/v2/hook/{hook}", self._send)

    async def _send(self, request: web.Request) -> web.Response:
        return await self._judge(request, self._check)

    def _check(self, request: web.Request, body: Any) -> tuple[int, str] | None:
        if request.match_info["hook"] != self.hook:
            return 19001, "param invalid: incoming webhook access token invalid"
        stamp = body.get("timestamp")
        if not isinstance(stamp, str) or not stamp.isdigit() or not _within_hour(int(stamp)):
            return 19021, "sign match fail or timestamp is not within one hour from current time"
        expected = _sign(f"{stamp}\n{self.secret}".encode(), b"")
        if not hmac.compare_digest(str(body.get("sign", "")), expected):
            return 19021, "sign match fail or timestamp is not within one hour from current time"
        kind = body.get("msg_type")
        if kind == "text":
            content = body.get("content")
            if not isinstance(content, dict) or not content.get("text"):
                return 9499, "Bad Request: content.text"
        elif kind == "interactive":
            card = body.get("card")
            if not isinstance(card, dict) or not isinstance(card.get("elements"), list):
                return 9499, "Bad Request: card"
        else:
            return 9499, "Bad Request: msg_type"
        return None
