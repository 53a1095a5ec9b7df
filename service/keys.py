"""Typed keys for the objects the aiohttp application shares."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from .auth import TokenCache
from .clock import Clock
from .console_auth import SignInThrottle
from .delivery import Delivery
from .metrics import Metrics
from .sandbox import TemplateSandbox
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
