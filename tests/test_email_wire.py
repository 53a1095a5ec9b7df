"""The email channel's hand-written wire format gives the email package's bytes exactly."""

from __future__ import annotations

import re
from typing import Any

import pytest

from channels.base import OutboundMessage
from channels.email import EmailChannel
from service.core.extras import Extras
from tests.mail import COMMUNITY, email_settings
from tests.mail import outbound as base_outbound

HTML = "<p>周六上午十点，<b>活动室</b>。</p>\n" * 40
ICS = "BEGIN:VCALENDAR\r\nMETHOD:{method}\r\nBEGIN:VEVENT\r\nSUMMARY:跳蚤市场\r\nEND:VEVENT\r\n"


def channel() -> EmailChannel:
    return EmailChannel(email_settings(25), sender_name=COMMUNITY)


def outbound(**changes: Any) -> OutboundMessage:
    """test_channel_email's message, with a long HTML part and an unsubscribe link."""
    extra = Extras(unsubscribe_url="https://linli.example.org/u/7-xyz")
    return base_outbound(**({"html": HTML, "extra": extra} | changes))


CASES: dict[str, OutboundMessage] = {
    "text and html": outbound(),
    "text only": outbound(html=None),
    "empty text and html": outbound(text="", html=""),
    "no unsubscribe": outbound(extra=Extras()),
    "invitation": outbound(extra=Extras(ics=ICS.format(method="REQUEST"), unsubscribe_url="u")),
    "cancellation without html": outbound(html=None, extra=Extras(ics=ICS.format(method="CANCEL"))),
    "calendar without method": outbound(extra=Extras(ics="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")),
    "ascii subject": outbound(subject="Flea market on Saturday", language="en"),
    "long subject": outbound(subject="邀请：" + "很长的活动名称" * 30),
    "line ends and astral text": outbound(text="a\r\nb\rc\n😀" * 100, html="<p>\r\n😀</p>"),
    "non-ascii mailbox": outbound(address="王@例子.中国"),
}


def undated(wire: bytes) -> bytes:
    """The message without its Date header (the two paths may straddle a second)."""
    dated = re.subn(rb"\r\nDate: [^\r]*\r\n", b"\r\n", wire)
    assert dated[1] == 1, "one Date header"
    return dated[0]


@pytest.mark.parametrize("name", list(CASES))
def test_wire_bytes_are_what_the_email_package_makes(
    name: str,
) -> None:
    message = CASES[name]
    email = channel()
    utf8 = not message.address.isascii()
    fast, fast_id = email._compose(message, utf8=utf8)
    # The same message through the email package (the path a QR code takes).
    slow, slow_id = email._compose(message, utf8=utf8, by_hand=False)
    assert undated(fast) == undated(slow)
    assert fast_id == slow_id


def test_unusual_calendar_method_goes_through_the_email_package() -> None:
    message = outbound(extra=Extras(ics=ICS.format(method='X-"ODD" Ä')))
    data, _ = channel()._compose(message, utf8=False)
    assert b"text/calendar" in data
    assert undated(data) == undated(channel()._compose(message, utf8=False, by_hand=False)[0])


def test_ascii_headers_refuse_other_text_on_both_paths() -> None:
    message = outbound(extra=Extras(unsubscribe_url="https://linli.example.org/u/é"))
    for by_hand in (True, False):
        with pytest.raises(UnicodeEncodeError):
            channel()._compose(message, utf8=False, by_hand=by_hand)
