"""The demo says what it did: where the file channel stood in for SMS, the progress and
message pages say "written to a file (demo)", never "delivered"; with a real SMS channel
they say what the provider said."""

from __future__ import annotations

import re

from tests.community import invited, settled, sms_gateway_settings
from tests.conftest import Api, MakeApi
from tests.console import ConsoleClient
from tests.fakes.sms_gateway import FakeSmsGateway


async def _pages(console: ConsoleClient, event_id: int, lang: str) -> tuple[str, str, str]:
    """The progress page, the message log and the first message's page, as plain text."""
    send = await console.get(f"/console/events/{event_id}/send?lang={lang}")
    log = await console.get(f"/console/messages?event_id={event_id}")
    found = re.search(r'href="(/console/messages/\d+)"', log.text)
    assert found, log.text
    one = await console.get(found.group(1))
    return send.text, log.text, one.text


async def test_console_demo_file_channel_says_written_to_a_file(
    api: Api, console: ConsoleClient
) -> None:
    event_id, _, _ = await invited(api, 2)  # only the file channel: it stands in for SMS
    send, log, one = await _pages(console, event_id, "zh-CN")
    assert "演示：短信消息没有真正发出，只写入了服务器上的文件" in send
    assert "短信（写入文件·演示）" in send
    assert "其中写入文件（演示）" in send and "已送达" not in send
    assert log.count("已写入文件（演示）") == 2 and "已送达" not in log.split("<tbody")[1]
    assert 'id="demo-note"' in one and "已送达" not in one.split('id="status"')[1]

    send, log, one = await _pages(console, event_id, "en")
    assert "Demo: the SMS messages were not really sent, only written to a file" in send
    assert "SMS (written to a file, demo)" in send
    assert log.count("Written to a file (demo)") == 2
    assert "Written to a file (demo)" in one


async def test_console_demo_a_real_sms_channel_is_not_called_a_demo(
    make_api: MakeApi, gateway: FakeSmsGateway
) -> None:
    api = await make_api(**sms_gateway_settings(gateway))
    console = ConsoleClient(api.client)
    await console.sign_in_token(api.token or "")
    event_id, _, _ = await invited(api, 2, settle=False)
    await settled(api, event_id, total=2)
    send, log, one = await _pages(console, event_id, "zh-CN")
    for text in (send, log, one):
        assert "演示" not in text and "写入文件" not in text
    assert log.count("已发送") + log.count("已送达") >= 2
