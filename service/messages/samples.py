"""Sample contexts for checking templates: a full one, and a sparse one without the
optional parts a real message may lack."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from ..core.errors import ValidationError
from ..core.i18n import date_text, time_text
from .catalog import LANGUAGES

_SAMPLE_ZONE: Final = ZoneInfo("Asia/Shanghai")
_SAMPLE_URL: Final = "https://xfyjw.cn"
_SAMPLE_TOKEN: Final = "16.sg-Xb3kP9qLmT2vN8wR4yZc1A"  # the shape links.py signs
_SAMPLES: Final[Mapping[str, Mapping[str, str]]] = {
    "zh-CN": {
        "community": "学府雍景湾社区",
        "resident": "王秀英",
        "title": "跳蚤市场·旧物换新",
        "description": "带上家里闲置的玩具、图书和小物件，和邻居们交换或义卖。\n"
        "义卖所得捐给小区图书角。",
        "location": "3号楼前小广场",
        "room": "活动室",
        "note": "因天气原因，改在活动室举行。",
        "cancel_note": "因天气原因取消，改期后再通知大家。",
        "item": "活动室冬季取暖",
        "outcome": "同意：12月起每晚开暖气到9点，电费由社区承担。",
    },
    "en": {
        "community": "Xuefu Yongjingwan Community",
        "resident": "Alex Chen",
        "title": "Flea market: swap and share",
        "description": "Bring the toys, books and odds and ends you no longer use, and swap "
        "or sell them with your neighbours.\nProceeds go to the community book corner.",
        "location": "Square in front of Building 3",
        "room": "Activity room",
        "note": "Because of the weather, it moves to the activity room.",
        "cancel_note": "Because of the weather; we will share a new date soon.",
        "item": "A warmer activity room in winter",
        "outcome": "Accepted: from December the heating runs until 9 pm; the community pays.",
    },
}


def sample_context(language: str, kind: str = "invitation") -> dict[str, Any]:
    """A realistic full context (every optional part present), for checking templates."""
    if language not in LANGUAGES:
        raise ValidationError.field("language", f"must be one of {', '.join(LANGUAGES)}")
    words = _SAMPLES[language]
    starts = datetime(2026, 12, 5, 9, 0, tzinfo=_SAMPLE_ZONE)
    ends = starts.replace(hour=11, minute=30)
    deadline = datetime(2026, 12, 3, 20, 0, tzinfo=_SAMPLE_ZONE)
    booked_from = datetime(2026, 12, 6, 14, 0, tzinfo=_SAMPLE_ZONE)
    booked_to = booked_from.replace(hour=16)
    rsvp = f"{_SAMPLE_URL}/r/{_SAMPLE_TOKEN}"
    return {
        "community": {"name": words["community"]},
        "resident": {
            "id": 1024,
            "name": words["resident"],
            "language": language,
            "unit": "3-2-1501",
        },
        "event": {
            "id": 42,
            "code": "T2",
            "title": words["title"],
            "description": words["description"],
            "kind": "flea_market",
            "location": words["location"],
            "starts_at": starts,
            "ends_at": ends,
            "start_text": date_text(starts, language),
            "end_text": time_text(ends),
            "date_text": date_text(starts, language),
            "rsvp_deadline": deadline,
            "capacity": 60,
            "max_party_size": 3,
            # A flea market has no agenda (a meeting's invitation lists its items).
            "agenda": [],
        },
        "links": {
            "rsvp": rsvp,
            "unsubscribe": f"{_SAMPLE_URL}/u/t.5c-Qm8Lw2Zr6Hd1Ks9Vx4Pn7B",
            "calendar": f"{rsvp}/event.ics",
            "actions": {answer: f"{rsvp}/{answer}" for answer in ("yes", "no", "maybe")},
            "needs": f"{_SAMPLE_URL}/n/{_SAMPLE_TOKEN}",
        },
        "message": {
            "kind": kind,
            "urgent": False,
            "note": words["cancel_note" if kind == "cancellation" else "note"],
        },
        "rsvp": {"answer": "yes", "party_size": 2, "checkin_code": "K7M2"},
        "booking": {
            "room": words["room"],
            "starts_at": booked_from,
            "ends_at": booked_to,
            "date_text": f"{date_text(booked_from, language)}-{time_text(booked_to)}",
            "checkin_code": "B3Q9",
        },
        "offer": {"expires_text": date_text(deadline, language)},
        "statement": {
            "month": "2026年11月" if language == "zh-CN" else "November 2026",
            "earned": 12,
            "spent": 5,
            "balance": 48,
        },
        "expiry": {
            "points": 20,
            "date_text": date_text(deadline, language),
            "balance": 48,
        },
        "item": {
            "code": "A3",
            "title": words["item"],
            "decision": "accepted",
            "decision_text": "同意" if language == "zh-CN" else "accepted",
            "outcome": words["outcome"],
        },
    }


# The optional parts a message of each kind always has (a confirmation follows an answer).
_ALWAYS: Final[Mapping[str, frozenset[str]]] = {
    "rsvp_confirmation": frozenset({"rsvp"}),
    "waitlist_offer": frozenset({"rsvp"}),
    "reconfirm": frozenset({"rsvp"}),
    "reconfirm_released": frozenset({"rsvp"}),
    "booking_confirmation": frozenset({"booking"}),
    "booking_pending": frozenset({"booking"}),
    "booking_declined": frozenset({"booking"}),
    "booking_reminder": frozenset({"booking"}),
    "booking_cancellation": frozenset({"booking"}),
    "points_statement": frozenset({"statement"}),
    "points_expiry": frozenset({"expiry"}),
    "outcome_notice": frozenset({"item"}),
}


def sparse_context(language: str, kind: str) -> dict[str, Any]:
    """The sample with what a real message may lack left out or empty."""
    context = sample_context(language, kind)
    for part in ("rsvp", "booking", "offer", "statement", "expiry", "item"):
        if part not in _ALWAYS.get(kind, frozenset()):
            del context[part]
    context["event"].update(location="", description="", rsvp_deadline=None, capacity=None)
    context["links"].update(unsubscribe=None, calendar=None, actions=None)
    context["message"]["note"] = ""
    return context
