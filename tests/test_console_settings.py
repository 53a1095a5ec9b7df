"""The console's settings view: the community and channels shown with every secret kept
out of the page, and the admin's test send reporting success or the channel's error."""

from __future__ import annotations

from service.core.models import Role
from service.domain import auth
from service.keys import store_key
from tests.community import outbox_files
from tests.conftest import START, Api, MakeApi
from tests.console import ConsoleClient

BOT_TOKEN = "123456789:AAF-secret-bot-token-never-shown-1234"
AUTH_TOKEN = "twilio-auth-token-never-shown-5678"
SMTP_PASSWORD = "smtp-password-never-shown-9012"


async def as_admin(api: Api) -> ConsoleClient:
    _, token = await auth.issue_token(
        api.client.app[store_key], role=Role.ADMIN, name="管理员", now=START
    )
    browser = ConsoleClient(api.client)
    page = await browser.sign_in_token(token)
    assert page.url.startswith("/console"), page.text
    return browser


async def configured(make_api: MakeApi) -> Api:
    return await make_api(
        **{
            "channels.telegram.bot_token": BOT_TOKEN,
            "channels.sms.auth_token": AUTH_TOKEN,
            "channels.sms.account_sid": "AC-visible-sid",
            "channels.email.password": SMTP_PASSWORD,
            "channels.webhook.enabled": True,
        }
    )


async def test_console_settings_never_show_a_secret(make_api: MakeApi) -> None:
    api = await configured(make_api)
    for browser in (await as_admin(api), ConsoleClient(api.client)):
        if not browser.csrf:
            await browser.sign_in_token(api.token or "")
        for lang in ("zh-CN", "en"):
            page = await browser.get(f"/console/settings?lang={lang}")
            assert page.status == 200
            for secret in (BOT_TOKEN, AUTH_TOKEN, SMTP_PASSWORD, "AAF-secret"):
                assert secret not in page.text
            assert page.has("AC-visible-sid") and page.by_id("timezone") == "Asia/Shanghai"
            assert page.has("21:00–08:00")
    assert page.has("•••••• (set)") and page.has("(not set)")


async def test_console_settings_test_send_reports_success_and_failure(
    make_api: MakeApi,
) -> None:
    api = await configured(make_api)
    admin = await as_admin(api)
    # SMS is carried by the file channel here: it succeeds and writes the file.
    page = await admin.post(
        "/console/settings/test", {"channel": "sms", "address_sms": "13800138000"}
    )
    assert page.status == 200 and page.by_id("provider-id"), page.text
    assert page.has("测试消息已通过短信发送到 +8613800138000。")
    assert any("测试消息" in f.read_text(encoding="utf-8") for f in outbox_files(api, "sms"))
    # The webhook channel is real, and a loopback address is refused by it: an error shown.
    page = await admin.post(
        "/console/settings/test",
        {"channel": "webhook", "address_webhook": "http://127.0.0.1:9/hook"},
    )
    assert page.status == 200 and page.by_id("test-error"), page.text
    assert page.has("失败")
    # A bad address is refused beside its field, the typed value kept.
    page = await admin.post("/console/settings/test", {"channel": "sms", "address_sms": "12"})
    assert page.status == 400 and page.error_for("address_sms")
    assert 'value="12"' in page.text
    page = await admin.post("/console/settings/test", {"channel": "fax", "address_fax": "1"})
    assert page.status == 400


async def test_console_settings_test_send_is_admin_only(console: ConsoleClient) -> None:
    page = await console.get("/console/settings")
    assert page.has("只有管理员可以发送测试消息。")
    page = await console.post(
        "/console/settings/test", {"channel": "sms", "address_sms": "13800138000"}
    )
    assert page.status == 403
