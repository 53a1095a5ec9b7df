"""Every phrase people read (the console's, the resident pages', the bots' replies) from one
set of catalogs, templates/text/<area>.<language>.toml, keyed `<area>.<key>`; and the one
rule that picks a language: the resident's own when the catalogs speak it, else the
community's default.

Lookups are strict: a key missing in a language is an error, never a blank or a silent
switch to another language (tests/test_phrases.py checks every area has both languages)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

TEXT_DIR: Final = Path(__file__).resolve().parents[2] / "templates" / "text"
LANGUAGES: Final = ("zh-CN", "en")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every phrase by language: `<area>.<key>` from <area>.<language>.toml."""
    texts: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for path in sorted(TEXT_DIR.glob("*.toml")):
        area, _, lang = path.name.removesuffix(".toml").partition(".")
        if lang not in texts:
            raise ValueError(f"{path}: language must be one of {LANGUAGES}")
        with path.open("rb") as fh:
            for key, value in tomllib.load(fh).items():
                texts[lang][f"{area}.{key}"] = str(value)
    return texts


def language_for(wanted: str | None, default: str) -> str:
    """The one fallback rule: `wanted` (the resident's language, or the one a page was
    asked for) when the catalogs speak it, else `default`, the community's language."""
    if wanted is not None and wanted in LANGUAGES:
        return wanted
    return default


def _lookup(lang: str, key: str) -> str:
    try:
        return catalogue()[lang][key]
    except KeyError:
        raise KeyError(f"text {key!r} is missing for {lang}") from None


@dataclass(frozen=True)
class Text:
    """Phrases in one language, asked for as `<area>.<key>`; a missing key is an error."""

    lang: str

    def __call__(self, key: str, **values: Any) -> str:
        text = _lookup(self.lang, key)
        return text.format(**values) if values else text


def phrase(key: str, lang: str, **values: Any) -> str:
    """One phrase, `<area>.<key>`, in `lang` (filled with `values` when given)."""
    return Text(lang)(key, **values)


@cache
def area(name: str, lang: str) -> Mapping[str, str]:
    """One area's phrases in `lang`, keyed without the area: what a page template reads as
    `t.heading` (and a page script as JSON). Unknown keys raise KeyError."""
    prefix = f"{name}."
    found = {
        key.removeprefix(prefix): text
        for key, text in catalogue()[lang].items()
        if key.startswith(prefix)
    }
    if not found:
        raise KeyError(f"no texts of area {name!r} in {lang}")
    return MappingProxyType(found)


def language_from_header(header: str | None) -> str | None:
    """The catalog language a browser's Accept-Language prefers most ("zh-TW,zh;q=0.9,
    en;q=0.8" → zh-CN), or None when it names none of ours. Any zh is zh-CN, any en is en:
    the catalogs have one of each. (A dozen lines; no library is worth adding for it.)"""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        base = tag.strip().lower().split("-")[0]
        found = {"zh": "zh-CN", "en": "en"}.get(base)
        if found is not None and quality > 0:
            ranked.append((-quality, index, found))
    return min(ranked)[2] if ranked else None
