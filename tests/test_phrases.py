"""The words people read: every phrase (console, resident pages, bots, SMS replies) exists
in zh-CN and English with the same placeholders, every key the code or a page asks for is
there, and a language is picked by one rule."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from service.core.phrases import LANGUAGES, Text, area, catalogue, language_for, phrase
from service.web.console.base import CONSOLE

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "templates" / "pages"
# Literal keys only: t("area.key"), phrase("area.key", …); keys built at run time are not seen.
_USED = re.compile(r"""\b(?:t|phrase|said)\(\s*["']([a-z_]+\.[a-z0-9_]+)["']\s*[,)]""")
_FLASH = re.compile(r"""redirect\([^)]*?["']([a-z_]+\.[a-z0-9_]+)["']""")
# A page template reads its area's phrases as t.key.
_PAGE_AREAS = {"booking.html": "booking_page", "rsvp.html": "rsvp_page", "tablet.html": "tablet"}
_PAGE_USED = re.compile(r"\bt\.([a-z_][a-z0-9_]*)")
# A module that takes one area's phrases as a mapping (area("sms", lang)) reads said["help"].
_AREA = re.compile(r"""\barea\(\s*["']([a-z_]+)["']""")
_AREA_USED = re.compile(r"""\b(?:said|text|t)\[["']([a-z0-9_]+)["']\]""")
# The bot's English says "1 person" / "2 people"; Chinese needs no plural word.
_ONLY_EN = {"telegram_bot.yes": {"people"}, "telegram_bot.waitlisted": {"people"}}


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_phrases_have_both_languages_with_the_same_keys_and_placeholders() -> None:
    texts = catalogue()
    zh, en = texts["zh-CN"], texts["en"]
    assert set(zh) == set(en), f"only one language: {sorted(set(zh) ^ set(en))}"
    assert LANGUAGES == ("zh-CN", "en") and len(zh) > 200
    differ = [
        k for k in zh if _placeholders(zh[k]) != _placeholders(en[k]) - _ONLY_EN.get(k, set())
    ]
    assert differ == [], f"placeholders differ: {differ}"
    empty = [k for lang in texts.values() for k, v in lang.items() if not v.strip()]
    assert empty == []


def test_phrases_every_key_asked_for_exists() -> None:
    sources = [
        *CONSOLE.rglob("*.html"),
        *(ROOT / "service").rglob("*.py"),
    ]
    used: dict[str, str] = {}
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for pattern in (_USED, _FLASH):
            for key in pattern.findall(text):
                used.setdefault(key, path.name)
        areas_read = set(_AREA.findall(text))
        if len(areas_read) == 1:
            (name,) = areas_read
            for key in _AREA_USED.findall(text):
                used.setdefault(f"{name}.{key}", path.name)
    for name, area_name in _PAGE_AREAS.items():
        for key in _PAGE_USED.findall((PAGES / name).read_text(encoding="utf-8")):
            used.setdefault(f"{area_name}.{key}", name)
    missing = {k: where for k, where in used.items() if k not in catalogue()["en"]}
    assert missing == {}, f"texts asked for but missing: {missing}"
    assert len(used) > 100
    areas = {key.partition(".")[0] for key in used}
    assert {"booking_page", "rsvp_page", "tablet", "telegram_bot", "sms"} <= areas


def test_phrases_a_phrase_that_does_not_exist_is_an_error_not_a_blank() -> None:
    with pytest.raises(KeyError, match="no_such_phrase"):
        phrase("sms.no_such_phrase", "en")
    with pytest.raises(KeyError, match="no_such_area"):
        Text("zh-CN")("no_such_area.help")
    with pytest.raises(KeyError):
        area("booking_page", "en")["no_such_key"]
    with pytest.raises(KeyError, match="no texts of area"):
        area("no_such_area", "zh-CN")


def test_phrases_fall_back_to_the_community_language_only() -> None:
    assert language_for("en", "zh-CN") == "en"
    assert language_for("zh-CN", "en") == "zh-CN"
    assert language_for("fr", "en") == "en"
    assert language_for(None, "zh-CN") == "zh-CN"
    assert phrase("sms.opted_in", language_for("de", "en"), name="Linli") == (
        "Linli: event SMS are on again. Reply STOP to opt out."
    )
