"""Every console page in both languages, read as a person reads it: no raw code (a message
kind, a status, a channel list, a language tag) where a word belongs, none of the other
language's script outside the community's own data, and one kind of colon per language."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from service.core.models import AnswerVia, MessageKind, MessageStatus, RsvpState
from service.core.phrases import catalogue
from tests.community import console_community, console_pages
from tests.conftest import Api
from tests.console import ConsoleClient

# Codes a page might print instead of a word: the enums' values, booking states, attempt
# outcomes, channel names and language tags.
CODES = frozenset(
    {str(v) for enum in (MessageKind, MessageStatus, RsvpState, AnswerVia) for v in enum}
    | {"confirmed", "declined", "cancelled", "pending", "temporary", "permanent"}
    | {"sms", "email", "telegram", "webhook", "file", "zh-CN", "en"}
)
# An attempt's outcomes (the attempts table's CHECK constraint).
OUTCOMES = ("sent", "delivered", "temporary", "permanent")
# Words the Chinese pages keep in Latin letters: names of things and formats, and the
# column names a CSV file must carry as they are.
LATIN_NAMES = frozenset(
    {"SMS", "Telegram", "Webhook", "CSV", "Linli", "API", "QR", "ID", "JSON", "UTF", "UCS"}
    | {"YYYY", "MM", "DD", "LINLI", "Excel", "WPS"}
    | {"unit", "name", "phone", "email", "language", "tags", "telegram"}
)
HAN = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e]")
CODE_LIKE = re.compile(r"^[a-z]+(?:_[a-z]+)+$")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# An ASCII colon ending a label ("状态: ") and not a time (10:00) or an address (https:).
ASCII_LABEL_COLON = re.compile(r"[^\d\s/]:(?:\s|$)")


class _Texts(HTMLParser):
    """What a reader sees: each text node, and the whole text of each element that holds
    text alone (a cell, a badge: where a code would stand in for a word). Nothing inside
    <code>, <pre>, <script>, <style> or <textarea> (technical values and message bodies)."""

    SKIP = frozenset({"code", "pre", "script", "style", "textarea", "title"})
    VOID = frozenset({"br", "hr", "img", "input", "link", "meta", "source", "wbr", "col"})

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.stack: list[tuple[str, list[str], list[bool]]] = []
        self.nodes: list[str] = []
        self.whole: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stack:
            self.stack[-1][2][0] = True  # the parent holds an element, not text alone
        if tag in self.VOID:
            return
        if tag in self.SKIP:
            self.depth += 1
        self.stack.append((tag, [], [False]))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while self.stack:
            name, parts, nested = self.stack.pop()
            if name in self.SKIP and self.depth:
                self.depth -= 1
            text = " ".join(" ".join(parts).split())
            if name == tag:
                if text and not nested[0] and not self.depth:
                    self.whole.append(text)
                return

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and not self.depth:
            self.nodes.append(text)
            if self.stack:
                self.stack[-1][1].append(text)


def texts(html: str) -> tuple[list[str], list[str]]:
    """The page's visible text nodes, and the texts of its text-only elements."""
    parser = _Texts()
    parser.feed(html)
    return parser.nodes, parser.whole


def problems(name: str, lang: str, html: str, data: tuple[str, ...]) -> list[str]:
    """What a person would trip over on one page, each as a line naming page and text."""
    found: list[str] = []
    nodes, whole = texts(html)
    for text in whole:
        words = [w.strip() for w in text.split(",")]
        if text in CODES or CODE_LIKE.match(text) or (len(words) > 1 and set(words) <= CODES):
            found.append(f"{name} [{lang}]: raw code {text!r}")
    for text in nodes:
        bare = text
        for value in data:
            bare = bare.replace(value, " ")
        if lang == "en":
            if HAN.search(bare):
                found.append(f"{name} [en]: Chinese outside the data {text!r}")
            continue
        latin = [w for w in LATIN_WORD.findall(bare) if w not in LATIN_NAMES]
        if latin:
            found.append(f"{name} [zh-CN]: Latin words {latin} in {text!r}")
        if ASCII_LABEL_COLON.search(bare):
            found.append(f"{name} [zh-CN]: an ASCII colon in {text!r}")
    return found


async def test_console_language_every_page_in_one_language_without_codes(
    api: Api, console: ConsoleClient
) -> None:
    ids, data = await console_community(api)
    found: list[str] = []
    for lang in ("zh-CN", "en"):
        for name, path in console_pages(ids).items():
            page = await console.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
            assert page.status == 200, (name, page.status)
            found += problems(name, lang, page.text, data)
    assert found == [], "\n".join(found)


def test_console_language_the_checks_catch_what_they_should() -> None:
    data = ("张伟",)
    page = (
        "<td>booking_reminder</td><td>delivered</td><dd>sms, telegram</dd>"
        "<p>状态: 已发送</p><p>Hello 张伟</p><p>你好 world</p><code>channels.sms</code>"
    )
    found = problems("p", "zh-CN", page, data)
    for expected in (
        "p [zh-CN]: raw code 'booking_reminder'",
        "p [zh-CN]: raw code 'delivered'",
        "p [zh-CN]: raw code 'sms, telegram'",
        "p [zh-CN]: an ASCII colon in '状态: 已发送'",
        "p [zh-CN]: Latin words ['Hello'] in 'Hello 张伟'",
        "p [zh-CN]: Latin words ['world'] in '你好 world'",
    ):
        assert expected in found, found
    assert not any("channels" in line for line in found), found
    assert problems("p", "en", "<p>Hello 张伟 — 已送达</p>", data) == [
        "p [en]: Chinese outside the data 'Hello 张伟 — 已送达'"
    ]
    assert problems("p", "zh-CN", "<p>10:00–12:00 https://x</p>", data) == [
        "p [zh-CN]: Latin words ['https'] in '10:00–12:00 https://x'"
    ]


def test_console_language_every_message_kind_and_outcome_has_its_words() -> None:
    """A new message kind without its name in the catalogs would break the message log."""
    for lang in ("zh-CN", "en"):
        words = catalogue()[lang]
        missing = [k for k in MessageKind if f"messages.kind_{k}" not in words]
        missing += [o for o in OUTCOMES if f"messages.outcome_{o}" not in words]
        assert missing == [], f"templates/text/messages.{lang}.toml lacks words for {missing}"
