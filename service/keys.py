"""Typed keys for the objects the aiohttp application shares."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from .core.clock import Clock
from .core.mail_settings import MailIn
from .core.metrics import Metrics
from .dispatch import Delivery
from .domain.auth import TokenCache
from .domain.console_auth import SignInThrottle
from .messages.sandbox import TemplateSandbox
from .settings import Settings
from .store import Store

settings_key: Final = web.AppKey("settings", Settings)
store_key: Final = web.AppKey("store", Store)
clock_key: Final = web.AppKey[Clock]("clock")
metrics_key: Final = web.AppKey("metrics", Metrics)
openapi_key: Final = web.AppKey("openapi", dict[str, Any])
delivery_key: Final = web.AppKey("delivery", Delivery)
token_cache_key: Final = web.AppKey("token_cache", TokenCache)
sign_in_throttle_key: Final = web.AppKey("sign_in_throttle", SignInThrottle)
sandbox_key: Final = web.AppKey("sandbox", TemplateSandbox)
mail_in_key: Final = web.AppKey("mail_in", MailIn)
