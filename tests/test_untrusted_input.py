"""Input from outside that once got past the checks and failed deep inside (500s): JSON
that cannot be read or stored, and signed tokens whose text or ids no row can have."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.core import jsontext
from service.core.secret import base36, mac, read_id, same_text
from service.domain.telegram_links import link_token, read_link_token
from service.messages.links import (
    RSVP,
    TELEGRAM,
    button_data,
    read_button_data,
    read_rsvp_token,
    rsvp_token,
)

KEY = b"k" * 32
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff\xfe{}", "is not UTF-8"),
        (b'{"a": }', "is not valid JSON: Expecting value at line 1 column 7"),
        (DEEP, "nests arrays or objects too deeply"),
        (b'{"update_id": ' + b"9" * 5000 + b"}", "has a number too long to read"),
        (b'{"text": "/start x_y_z_\\ud800"}', "lone UTF-16 surrogate"),
        (b'["\\uDFFF"]', "lone UTF-16 surrogate"),
        (b'["\\ud83d x"]', "lone UTF-16 surrogate"),
    ],
)
def test_unreadable_json_is_one_error_saying_why(raw: bytes, problem: str) -> None:
    with pytest.raises(jsontext.JsonTextError, match=problem.replace("(", r"\(")):
        jsontext.loads(raw)


def test_a_lone_surrogate_is_found_where_it_is() -> None:
    for raw, field in (
        (b'{"a": [1, {"b": "\\ud800"}]}', "a.1.b"),
        (b'{"ok": "x", "\\udc00": 1}', "body"),
        (b'{"a": {"\\udc00": 1}}', "a"),
        (b'"\\ud800"', "body"),
    ):
        with pytest.raises(jsontext.JsonTextError) as caught:
            jsontext.loads(raw)
        assert caught.value.field == field, raw


def test_json_with_a_surrogate_pair_or_an_escaped_backslash_reads() -> None:
    assert jsontext.loads(b'{"t": "\\ud83d\\ude00"}') == {"t": "😀"}
    # "\\ud800" is a backslash and the letters ud800: text, not an escape.
    assert jsontext.loads(b'["\\\\ud800"]') == ["\\ud800"]
    assert jsontext.loads(b'{"n": ' + b"9" * 4000 + b"}") == {"n": int("9" * 4000)}


def _signed(head: str) -> str:
    return f"{head}-{mac(KEY, RSVP, head)}"


def test_token_ids_outside_what_the_store_holds_read_as_none() -> None:
    assert read_id(base36(2**63 - 1)) == 2**63 - 1
    for part in (base36(2**63), "0", "", "-1", "A", "１", "zzzzzzzzzzzzzz"):
        assert read_id(part) is None, part
    # MAC-valid all the same: a token is refused for its ids, not only for its MAC.
    assert read_rsvp_token(KEY, _signed(f"{base36(2**70)}.1")) is None
    assert read_rsvp_token(KEY, rsvp_token(KEY, 3, 4)) == (3, 4)


def test_telegram_button_data_with_odd_text_or_huge_ids_is_refused() -> None:
    good = button_data(KEY, 12, 34, "y")
    assert read_button_data(KEY, good) == (12, 34, "y")
    huge = f"{base36(2**70)}.2.y"
    for data in (
        "2.2.y.\ud800",
        "\ud800.2.y.abc",
        f"{huge}.{mac(KEY, TELEGRAM, huge, size=12)}",
        good.replace("y", "ｙ", 1),
    ):
        assert read_button_data(KEY, data) is None, data


def test_telegram_link_tokens_with_odd_text_or_huge_ids_are_refused() -> None:
    good = link_token(KEY, 42, NOW, 0)
    assert read_link_token(KEY, good, NOW) == 42
    day = base36(int(NOW.timestamp()) // 86_400)
    huge = f"{base36(2**70)}_{day}_0"
    for token in (
        "x_y_z_\ud800",
        "\ud800_y_z_abc",
        f"{huge}_{mac(KEY, 'tg-link', huge)}",
    ):
        assert read_link_token(KEY, token, NOW) is None, token


def test_secrets_compare_whatever_characters_arrive() -> None:
    # Header bytes that are not UTF-8 arrive as surrogates; compare_digest refused them.
    assert not same_text("\udcff", "linli-secret")
    assert not same_text("é", "linli-secret")
    assert same_text("密钥-é", "密钥-é")
