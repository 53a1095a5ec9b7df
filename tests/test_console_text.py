"""The console's words: every text exists in zh-CN and English, with the same
placeholders, and every key a page or view asks for is there."""

from __future__ import annotations

import re
import string
from pathlib import Path

from service.web.console.base import CONSOLE, LANGUAGES, catalogue

ROOT = Path(__file__).resolve().parents[1]
# Literal keys only: t("area.key") or t("area.key", …); keys built at run time are not seen.
_USED = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_]+)["']\s*[,)]""")
_FLASH = re.compile(r"""redirect\([^)]*?["']([a-z_]+\.[a-z0-9_]+)["']""")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_console_text_has_both_languages_with_the_same_keys_and_placeholders() -> None:
    texts = catalogue()
    zh, en = texts["zh-CN"], texts["en"]
    assert set(zh) == set(en), f"only one language: {sorted(set(zh) ^ set(en))}"
    assert LANGUAGES == ("zh-CN", "en") and len(zh) > 20
    differ = [k for k in zh if _placeholders(zh[k]) != _placeholders(en[k])]
    assert differ == [], f"placeholders differ: {differ}"
    empty = [k for lang in texts.values() for k, v in lang.items() if not v.strip()]
    assert empty == []


def test_console_every_text_asked_for_exists() -> None:
    sources = [*CONSOLE.rglob("*.html"), *(ROOT / "service" / "web" / "console").glob("*.py")]
    used: dict[str, str] = {}
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for pattern in (_USED, _FLASH):
            for key in pattern.findall(text):
                used.setdefault(key, path.name)
    missing = {k: where for k, where in used.items() if k not in catalogue()["en"]}
    assert missing == {}, f"texts asked for but missing: {missing}"
    assert len(used) > 20
