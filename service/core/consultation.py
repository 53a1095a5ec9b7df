"""The consultation list's values: needs, items and their steps, support, agendas, rosters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final


class Category(StrEnum):
    """A need's or an item's category (环境, 安全, 活动, 设施, 其他)."""

    ENVIRONMENT = "environment"
    SAFETY = "safety"
    ACTIVITY = "activity"
    FACILITY = "facility"
    OTHER = "other"


class ItemStatus(StrEnum):
    """Where an item is; it only moves forward, in this order."""

    COLLECTED = "collected"
    DISCUSSING = "discussing"
    DECIDED = "decided"
    IN_PROGRESS = "in_progress"
    DONE = "done"

    @property
    def rank(self) -> int:
        """Its place in the order: a move must go to a higher one."""
        return list(ItemStatus).index(self)


class Decision(StrEnum):
    """What a meeting decided about an item."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEFERRED = "deferred"


class NeedVia(StrEnum):
    """How a need reached Linli."""

    PAGE = "page"
    SMS = "sms"
    TELEGRAM = "telegram"
    ORGANISER = "organiser"
    API = "api"


# An item's short code residents type ("支持 A3"): this letter and its id.
ITEM_CODE_PREFIX: Final = "A"


def item_code(item_id: int) -> str:
    """The code residents type for an item: A3."""
    return f"{ITEM_CODE_PREFIX}{item_id}"


@dataclass(frozen=True)
class Need:
    """A resident's wish as they said it, who raised it and how."""

    id: int
    text: str
    category: Category | None
    building: str
    resident_id: int | None
    household_id: int | None
    unit: str | None
    via: NeedVia
    actor: str
    item_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class ItemStep:
    """One step of an item's audit trail: who, when, what and why."""

    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str
    decision: str | None = None


@dataclass(frozen=True)
class Item:
    """An item of the consultation list, with its support and (in detail) needs and steps."""

    id: int
    code: str
    title: str
    description: str
    category: Category | None
    status: ItemStatus
    decision: Decision | None
    outcome: str
    support_count: int
    support_threshold: int
    # The support count has reached the threshold: discuss it at the next meeting.
    ready_for_meeting: bool
    review_on: str | None
    published_at: datetime | None
    published_outcome: str | None
    need_count: int
    created_at: datetime
    updated_at: datetime
    needs: tuple[Need, ...] = ()
    steps: tuple[ItemStep, ...] = ()


@dataclass(frozen=True)
class SupportOutcome:
    """A household's support of an item after a support or a withdrawal."""

    item_id: int
    household_id: int
    supporting: bool
    support_count: int
    support_threshold: int
    # False when the household's support already was as asked (a repeat changes nothing).
    changed: bool


@dataclass(frozen=True)
class AgendaEntry:
    """An item on a meeting's agenda, and what was decided on it."""

    item_id: int
    code: str
    title: str
    status: ItemStatus
    position: int
    decision: Decision | None


@dataclass(frozen=True)
class Meeting:
    """A meeting's agenda and, once closed, its record."""

    event_id: int
    title: str
    agenda: tuple[AgendaEntry, ...]
    closed_at: datetime | None
    minutes: str
    attendees: int


@dataclass(frozen=True)
class RosterRow:
    """One invited household's line on the printed sign-in sheet (names masked)."""

    invitation_id: int
    unit: str
    name: str
    answer: str
    party_size: int
    code: str | None
    checked_in: bool
    via: str | None


@dataclass(frozen=True)
class TickReport:
    """What entering the paper's ticks did."""

    checked_in: int
    already: int
    unknown: tuple[str, ...]


@dataclass(frozen=True)
class PublishReport:
    """What publishing some items' outcomes did."""

    published: tuple[int, ...]
    notices: int
    already_told: int
