"""Delivery failures as an organiser reads them. A stored reason (what a channel or the
worker wrote: `webhook: ClientOSError (Connection reset by peer)`, `invalid URL`,
`Telegram sendMessage 403: Forbidden: bot was blocked by the user`) is read as a stable
code (`connection_reset`, `invalid_url`, `blocked`), and the phrase catalogs
(templates/text/failures.<language>.toml) turn the code into a plain sentence.

The codes are read from the reason's text, not stored beside it, so reasons already in a
database are explained too, with no migration. The rules follow the forms the channels
build (channels/http.py `describe`, the channels' TemporaryFailure and PermanentFailure
reasons, delivery/worker.py's own); a reason no rule knows is `other`, whose sentence
says only that delivery failed: the technical reason is always kept and shown beside it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .phrases import phrase

# First match wins: the specific before the general (a 410 is "gone", not any 4xx; a
# Telegram 403 is a blocked bot, not a refusal). Named groups fill the phrase.
_PROVIDER_STATUS: Final = r"(?:\bHTTP|\bTelegram \w+|\btwilio error) (?P<status>{})"
_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (code, re.compile(pattern, re.I))
    for code, pattern in (
        ("erased", r"^cancelled: resident erased"),
        ("opted_out", r"^address opted out"),
        ("address_unusable", r"^address unusable"),
        ("expired", r"^expired before sending"),
        ("internal_error", r"^internal error"),
        ("address_blocked", r"destination \S+ is not allowed"),
        ("invalid_url", r"invalid URL|^scheme .* is not allowed"),
        ("credentials", r"credentials|bot token or api_url refused|login to \S+ refused"),
        ("not_configured", r"is not set\b"),
        ("signing_secret", r"signing secret"),
        ("gone", r"endpoint is gone|\bHTTP 410\b"),
        ("redirect", r"redirect not followed|check channels\.\w+\.url"),
        ("unknown_host", r"cannot resolve"),
        ("connection_refused", r"connection refused"),
        ("unreachable", r"cannot connect to|network is unreachable|no route to host"),
        (
            "connection_reset",
            r"connection reset|ServerDisconnected|ClientPayloadError|broken pipe"
            r"|ConnectionAborted|ConnectionReset|\bsmtp 421\b",
        ),
        ("timeout", r"did not answer within|timed out|\btimeout"),
        ("tls", r"\bSSL|certificate|\bTLS"),
        ("blocked", r"\bTelegram \w+ 403\b"),
        ("unsubscribed", r"\btwilio error 21610\b"),
        ("rate_limited", _PROVIDER_STATUS.format("429")),
        ("receiver_error", _PROVIDER_STATUS.format(r"5\d\d")),
        ("refused", _PROVIDER_STATUS.format(r"4\d\d|\d{5}")),
        ("mail_refused", r"\bsmtp (?P<status>5\d\d)\b"),
        ("mail_deferred", r"\bsmtp (?P<status>4\d\d)\b"),
        ("invalid_address", r"invalid address|cannot take this address"),
    )
)
OTHER: Final = "other"


@dataclass(frozen=True)
class Explained:
    """A stored reason's code and its plain sentence in one language."""

    code: str
    text: str


def failure_code(reason: str) -> tuple[str, dict[str, str]]:
    """The stable code of a stored reason, and the values its phrase takes."""
    for code, pattern in _RULES:
        found = pattern.search(reason)
        if found:
            return code, {k: v for k, v in found.groupdict().items() if v is not None}
    return OTHER, {}


def explain(reason: str | None, lang: str) -> Explained | None:
    """A stored reason as a sentence in `lang` (None for no reason)."""
    if not reason:
        return None
    code, values = failure_code(reason)
    return Explained(code, phrase(f"failures.{code}", lang, **values))
