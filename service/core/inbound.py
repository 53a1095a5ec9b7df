"""What providers tell us, as plain values: a delivery report on a message we sent, a
text a resident sent us, and the android gateway's event they arrive in. Neutral ground:
the SMS channel's parsers return them (channels/base.py re-exports them beside the channel
interface), and inbound SMS handling reads them, without the domain importing channels/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DeliveryReport:
    """A provider's word on a message we sent, keyed by the Receipt's provider_id."""

    provider_id: str
    status: str  # "sent" | "delivered" | "failed"
    error: str | None = None


@dataclass(frozen=True)
class AndroidEvent:
    """One android-sms-gateway webhook. `event_id` is unique per event (dedupe on it);
    for sms:received, `message_id` is derived from the content and is not unique."""

    event: str  # "sms:received" | "sms:sent" | "sms:delivered" | "sms:failed" | …
    event_id: str
    message_id: str | None
    phone_number: str | None
    text: str | None = None  # sms:received only
    received_at: datetime | None = None  # sms:received only; None if unreadable
    reason: str | None = None  # sms:failed only
    device_id: str | None = None


@dataclass(frozen=True)
class InboundSms:
    """A text someone sent to our number. `message_id` is unique per message (the dedupe
    key); `provider_replied`: the provider has already confirmed an opt-out or opt-in."""

    provider: str  # "twilio" | "android"
    message_id: str
    sender: str  # as the provider wrote it; E.164 from Twilio, often national from a phone
    text: str
    provider_replied: bool = False
