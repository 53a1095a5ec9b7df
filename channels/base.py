"""The one interface every delivery channel implements; channels know nothing of events
or residents, only of a rendered message and an address."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Final

from service.core.extras import Extras


class Outcome(StrEnum):
    """How far a channel got a message: handed on (sent) or confirmed at the far end."""

    SENT = "sent"
    DELIVERED = "delivered"


@dataclass(frozen=True)
class OutboundMessage:
    """A message rendered at enqueue time, as the worker hands it to a channel.

    `id` is the same on every attempt (email Message-ID, webhook-id, SMS gateway id), so
    receivers can drop duplicates."""

    id: str
    channel: str
    address: str
    kind: str
    language: str
    subject: str
    text: str
    html: str | None = None
    # Channel-specific parts, typed and rendered at compose time: links, the email's
    # calendar part and attachments, Telegram's buttons. A webhook's JSON body is its `text`.
    extra: Extras = field(default_factory=Extras)
    # Webhook signing secrets (whsec_…), current first; several during a rotation.
    secrets: tuple[str, ...] = ()
    attempt: int = 1


@dataclass(frozen=True)
class Receipt:
    """A successful send: the provider's id for the message, if it gave one."""

    outcome: Outcome = Outcome.SENT
    provider_id: str | None = None
    detail: str = ""


class ChannelFailure(Exception):
    """A send that did not succeed; `reason` is short, human and free of secrets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# The longest wait a provider's advice may set: a day. A longer one (99999999999999 s, a
# Telegram retry_after of 1e300) cannot be meant, and would overflow the retry's time.
MAX_WAIT_S: Final = 86_400.0


class TemporaryFailure(ChannelFailure):
    """Try again later; `retry_after` (seconds) when the provider said how long to wait,
    kept within 0 to MAX_WAIT_S (a negative or NaN one is dropped)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        # `not >= 0` is also true of NaN.
        wait = None if retry_after is None or not retry_after >= 0 else retry_after
        self.retry_after = None if wait is None else min(wait, MAX_WAIT_S)


class PermanentFailure(ChannelFailure):
    """This address will not take this message; `address_gone` when it will take none
    (a webhook endpoint answering 410, a blocked bot), so it is disabled."""

    def __init__(self, reason: str, *, address_gone: bool = False) -> None:
        super().__init__(reason)
        self.address_gone = address_gone


class Channel(abc.ABC):
    """A delivery adapter, built from its settings table by the registry."""

    name: ClassVar[str]

    async def start(self) -> None:  # noqa: B027 - optional hook, most channels need none
        """Open pools or sessions before the first send."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what `start` opened."""

    @abc.abstractmethod
    async def send(self, message: OutboundMessage) -> Receipt:
        """Send one message, or raise TemporaryFailure / PermanentFailure."""

    def rate_key(self, message: OutboundMessage) -> str | None:
        """A key for a per-recipient rate limit (Telegram: the chat), or None."""
        return None
