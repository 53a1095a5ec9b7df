"""A stand-in for android-sms-gateway's local server (the app on the phone) on 127.0.0.1,
and helpers that build the signed webhooks the phone would send back.

    async with FakeSmsGateway() as gateway:
        settings = SmsChannelSettings(enabled=True, provider="android_gateway",
                                      url=gateway.url, username=gateway.username,
                                      password=gateway.password)
        gateway.fail_next(500)                  # the next POST answers 500
        gateway.messages["abc"]                 # the accepted request body with id "abc"

    event = android_event("sms:delivered", message_id="abc", phone_number="+86138…")
    body, headers = android_signed(event, WEBHOOK_SECRET, ts=1_800_000_000)

Like the app, it checks Basic auth, reads the JSON request, refuses a second message
with an id it already has (409), and answers 202 with the message in state Pending.
Also like the app, phone numbers are checked only when the phone sends, so a bad number
is not refused here: use `fail_next(400, …)` to model a refusal.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from .server import FakeHttpServer, basic_credentials

USERNAME: Final = "sms"
PASSWORD: Final = "gateway-test-password"
DEVICE_ID: Final = "ffffffffceb0b1db0000018e937c815b"
WEBHOOK_SECRET: Final = "gateway-test-signing-key"
DUPLICATE: Final = "Message with the same ID already exists"
# The cloud server's limit; the local server stores longer ids, we never send them.
MAX_ID: Final = 36
_NANOID: Final = string.ascii_letters + string.digits + "_-"


@dataclass(frozen=True)
class GatewayRequest:
    """One request as the fake received it: path, Basic credentials, parsed JSON (or None)."""

    path: str
    auth: tuple[str, str] | None
    body: Any


@dataclass(frozen=True)
class _Failure:
    status: int
    message: str
    retry_after: str | None


def _bad(message: str) -> web.Response:
    return web.json_response({"message": message}, status=400)


class FakeSmsGateway(FakeHttpServer):
    """`POST /message` (and `/messages`) of the app's local server on 127.0.0.1."""

    def __init__(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.device_id = DEVICE_ID
        self.requests: list[GatewayRequest] = []
        self.messages: dict[str, dict[str, Any]] = {}
        # Seconds to wait before answering, to make a client time out.
        self.delay_s = 0.0
        self._failures: collections.deque[_Failure] = collections.deque()

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        message: str = "Failure on request",
        retry_after: int | str | None = None,
    ) -> None:
        """Answer the next `count` requests with `status` and {"message": …}."""
        retry = None if retry_after is None else str(retry_after)
        self._failures.extend([_Failure(status, message, retry)] * count)

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/message", self._post)
        router.add_post("/messages", self._post)

    async def _post(self, request: web.Request) -> web.Response:
        auth = basic_credentials(request)
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        self.requests.append(GatewayRequest(request.path, auth, body))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._failures:
            failure = self._failures.popleft()
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            return web.json_response(
                {"message": failure.message}, status=failure.status, headers=headers
            )
        if auth != (self.username, self.password):
            return web.Response(
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="Access to SMS Gateway", charset=UTF-8'},
            )
        if not isinstance(body, dict):
            return _bad("Request body is not a JSON object")
        return self._enqueue(body)

    def _enqueue(self, body: dict[str, Any]) -> web.Response:
        kinds = [k for k in ("textMessage", "dataMessage", "message") if body.get(k) is not None]
        if len(kinds) != 1:
            return _bad("Must specify exactly one of: textMessage, dataMessage, or message")
        content = body.get("textMessage")
        if kinds == ["textMessage"] and not (isinstance(content, dict) and content.get("text")):
            return _bad("Text message is empty")
        numbers = body.get("phoneNumbers")
        if not isinstance(numbers, list) or not numbers:
            return _bad("phoneNumbers is empty")
        if body.get("ttl") is not None and body.get("validUntil") is not None:
            return _bad("fields conflict: ttl and validUntil")
        message_id = body.get("id") or "".join(secrets.choice(_NANOID) for _ in range(21))
        if not isinstance(message_id, str) or len(message_id) > MAX_ID:
            return _bad(f"id must be a string of at most {MAX_ID} characters")
        if message_id in self.messages:
            return web.json_response({"message": DUPLICATE}, status=409)
        self.messages[message_id] = body
        return web.json_response(
            {
                "id": message_id,
                "deviceId": self.device_id,
                "state": "Pending",
                "isHashed": False,
                "isEncrypted": bool(body.get("isEncrypted")),
                "recipients": [
                    {"phoneNumber": n, "state": "Pending", "error": None} for n in numbers
                ],
                "states": {"Pending": datetime.now(UTC).isoformat()},
            },
            status=202,
        )


def android_event(
    event: str,
    *,
    message_id: str,
    phone_number: str,
    event_id: str | None = None,
    text: str | None = None,
    reason: str | None = None,
    at: str = "2026-11-28T10:00:00.000+08:00",
) -> dict[str, Any]:
    """A webhook body of the gateway's shape: sms:received carries `text` as message and
    receivedAt; sms:sent/delivered/failed carry sentAt/deliveredAt/failedAt; failed, reason."""
    payload: dict[str, Any] = {
        "messageId": message_id,
        "phoneNumber": phone_number,
        "simNumber": 1,
    }
    stamp = {"sms:received": "receivedAt", "sms:sent": "sentAt", "sms:delivered": "deliveredAt"}
    payload[stamp.get(event, "failedAt")] = at
    if text is not None:
        payload["message"] = text
    if reason is not None:
        payload["reason"] = reason
    return {
        "deviceId": DEVICE_ID,
        "event": event,
        "id": event_id or "".join(secrets.choice(_NANOID) for _ in range(21)),
        "payload": payload,
        "webhookId": "linli",
    }


def android_signed(body: Mapping[str, Any], secret: str, ts: int) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers the phone sends: X-Signature is the hex HMAC-SHA256 of the
    body followed by X-Timestamp."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    signature = hmac.new(secret.encode(), raw + str(ts).encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Signature": signature,
        "X-Timestamp": str(ts),
    }
    return raw, headers
