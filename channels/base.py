"""The one interface every delivery channel implements; channels know nothing of events
or residents, only of a rendered message and an address."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Final, TypeVar

from service.core.config import secret_names
from service.core.extras import Extras

# What providers tell us (delivery reports, residents' texts) lives in core, so inbound
# handling reads it without importing channels; it is re-exported here, beside the
# interface, for the channels that parse it.
from service.core.inbound import AndroidEvent as AndroidEvent
from service.core.inbound import DeliveryReport as DeliveryReport
from service.core.inbound import InboundSms as InboundSms


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


@dataclass(frozen=True)
class Context:
    """What a channel may need from the app besides its own table: the community's name
    (the email sender's display name when none is set)."""

    community_name: str = ""


class Channel(abc.ABC):
    """A delivery adapter, built from its settings table by the registry.

    Its class attributes declare it, and the registry, the settings and the console read
    only these: `name` (its [channels.<name>] table and the addresses it carries),
    `settings_class` (that table, a dataclass of core.config settings whose secret fields
    are marked, so they are masked in logs and on the settings page), `per_key_setting`
    (the table's per-key rate in messages a second, the key being `rate_key`), and
    `stands_in` (a channel that carries the messages of every channel not enabled, as the
    file channel does, rather than addresses of its own), and `for_groups` (a group
    chat's robot, addressed by a group destination, never a resident's contact)."""

    name: ClassVar[str]
    settings_class: ClassVar[type[Any]]
    per_key_setting: ClassVar[str | None] = None
    stands_in: ClassVar[bool] = False
    for_groups: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Any, context: Context) -> Channel:
        """The channel for its enabled table; SettingsError names a missing or bad key."""

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


C = TypeVar("C", bound=type[Channel])


@dataclass(frozen=True)
class Spec:
    """One row of the channel table: a channel's declarations, read once."""

    name: str
    channel: type[Channel]
    settings: type[Any]
    secret_fields: tuple[str, ...]
    per_key_setting: str | None
    stands_in: bool
    for_groups: bool = False


class Registry:
    """Channels by name, in the order registered; a second channel of a name is refused."""

    def __init__(self) -> None:
        self._specs: dict[str, Spec] = {}

    def register(self, cls: C) -> C:
        """Add `cls` to the table (a class decorator); ValueError on a name already taken."""
        taken = self._specs.get(cls.name)
        if taken is not None:
            raise ValueError(
                f"channel {cls.name!r}: {cls.__module__}.{cls.__qualname__} and "
                f"{taken.channel.__module__}.{taken.channel.__qualname__} both claim it"
            )
        self._specs[cls.name] = Spec(
            name=cls.name,
            channel=cls,
            settings=cls.settings_class,
            secret_fields=secret_names(cls.settings_class),
            per_key_setting=cls.per_key_setting,
            stands_in=cls.stands_in,
            for_groups=cls.for_groups,
        )
        return cls

    def __getitem__(self, name: str) -> Spec:
        return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def specs(self) -> tuple[Spec, ...]:
        """Every registered channel, in the order registered."""
        return tuple(self._specs.values())


# The built-in channels register here as their modules are imported (channels/registry.py
# imports them all); a test may build its own Registry.
REGISTRY: Final = Registry()
register: Final = REGISTRY.register
