"""A stand-in for Twilio's Messages API on 127.0.0.1, and helpers that build the signed
status callbacks Twilio would send back.

    async with FakeTwilio() as twilio:
        settings = SmsChannelSettings(enabled=True, provider="twilio", url=twilio.url,
                                      account_sid=twilio.account_sid,
                                      auth_token=twilio.auth_token, from_number=FROM_NUMBER)
        twilio.fail_next(429, retry_after=7)   # the next create answers 429, Retry-After: 7
        twilio.unsubscribed.add("+8613800138000")   # answers error 21610 for that number
        [created] = twilio.messages             # the Message resources it created

    params = twilio_status_callback_params(sid, "delivered")
    headers = twilio_signed(public_url, params, AUTH_TOKEN)   # {"X-Twilio-Signature": …}

The signature is computed here independently of channels.sms_callbacks, so tests of the web
layer check its verifier against Twilio's documented algorithm, not against itself.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final

from aiohttp import web

from .server import FakeHttpServer, basic_credentials

ACCOUNT_SID: Final = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN: Final = "twilio-test-auth-token-0123456789"
FROM_NUMBER: Final = "+15005550006"  # Twilio's magic "valid sender" test number
API_VERSION: Final = "2010-04-01"
# Twilio accepts E.164 in To; a loose pattern is enough for a fake.
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_DEFAULT_ERROR: Final = {
    400: (21211, "The 'To' number is not a valid phone number."),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


@dataclass(frozen=True)
class TwilioRequest:
    """One request as the fake received it: path, Basic credentials, form fields."""

    path: str
    auth: tuple[str, str] | None
    form: dict[str, str]
    content_type: str


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int
    message: str
    retry_after: str | None


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error body: {"code", "message", "more_info", "status"}."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilio(FakeHttpServer):
    """`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` on 127.0.0.1, a free port.

    It checks Basic auth (AccountSid:AuthToken) and the account in the path, reads the form
    as Twilio does, refuses a bad To (21211) or an unsubscribed one (21610), and answers
    201 with a Message resource (status "queued"). Every request is in `requests`."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[TwilioRequest] = []
        self.messages: list[dict[str, Any]] = []
        self.unsubscribed: set[str] = set()
        # Seconds to wait before answering, to make a client time out.
        self.delay_s = 0.0
        self._failures: collections.deque[_Failure] = collections.deque()

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        code: int | None = None,
        message: str | None = None,
        retry_after: int | str | None = None,
    ) -> None:
        """Answer the next `count` requests with `status` and a Twilio error body (default
        code per status, e.g. 20429 for 429); `retry_after` sets Retry-After."""
        default_code, default_message = _DEFAULT_ERROR.get(status, (20000 + status, "Error"))
        failure = _Failure(
            status,
            default_code if code is None else code,
            default_message if message is None else message,
            None if retry_after is None else str(retry_after),
        )
        self._failures.extend([failure] * count)

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)

    async def _create(self, request: web.Request) -> web.Response:
        posted = await request.post()
        form = {name: value for name, value in posted.items() if isinstance(value, str)}
        auth = basic_credentials(request)
        self.requests.append(TwilioRequest(request.path, auth, form, request.content_type))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._failures:
            failure = self._failures.popleft()
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            body = twilio_error(failure.status, failure.code, failure.message)
            return web.json_response(body, status=failure.status, headers=headers)
        if auth != (self.account_sid, self.auth_token):
            return web.json_response(
                twilio_error(401, 20003, "Authenticate"),
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        if request.match_info["sid"] != self.account_sid:
            return web.json_response(twilio_error(404, 20404, "Not found"), status=404)
        return self._validated(form)

    def _validated(self, form: dict[str, str]) -> web.Response:
        to, body = form.get("To", ""), form.get("Body", "")
        sender = form.get("From") or form.get("MessagingServiceSid")
        if not to:
            return _refuse(21604, "A 'To' phone number is required.")
        if not sender:
            return _refuse(21603, "A 'From' phone number is required.")
        if not body:
            return _refuse(21602, "Message body is required.")
        if not _E164.fullmatch(to):
            return _refuse(21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.unsubscribed:
            return _refuse(21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        self.messages.append(resource | {"status_callback": form.get("StatusCallback")})
        return web.json_response(resource, status=201)


def _refuse(code: int, message: str) -> web.Response:
    return web.json_response(twilio_error(400, code, message), status=400)


def twilio_status_callback_params(
    sid: str,
    status: str,
    *,
    error_code: str | None = None,
    to: str = "+8613800138000",
    from_: str = FROM_NUMBER,
    account_sid: str = ACCOUNT_SID,
) -> dict[str, str]:
    """The form fields of a Twilio message status callback (ErrorCode only if given)."""
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "From": from_,
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": to,
    }
    if error_code is not None:
        params["ErrorCode"] = error_code
    return params


def twilio_signed(
    url: str, params: Mapping[str, str], auth_token: str, *, shared_key: str | None = None
) -> dict[str, str]:
    """The X-Twilio-Signature header Twilio would send for a POST of `params` to `url`:
    HMAC-SHA1 with the auth token, or, with a Webhooks Rule's `shared_key`, HMAC-SHA256
    with it and X-Twilio-Webhooks-Signature-Settings saying so."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    if shared_key is None:
        digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
        return {"X-Twilio-Signature": base64.b64encode(digest).decode()}
    digest = hmac.new(shared_key.encode(), signed.encode(), hashlib.sha256).digest()
    return {
        "X-Twilio-Signature": base64.b64encode(digest).decode(),
        "X-Twilio-Webhooks-Signature-Settings": "key=rule-1,algorithm=HMAC_SHA256",
    }


def twilio_inbound_params(
    body: str,
    *,
    sid: str | None = None,
    from_: str = "+8613800138000",
    to: str = FROM_NUMBER,
    account_sid: str = ACCOUNT_SID,
) -> dict[str, str]:
    """The form fields of Twilio's incoming-message webhook for an SMS of `body` (a new
    MessageSid unless `sid` is given); it carries no MessageStatus, SmsStatus "received"."""
    sid = sid or "SM" + secrets.token_hex(16)
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "Body": body,
        "From": from_,
        "FromCountry": "CN",
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": to,
        "ToCountry": "US",
    }
