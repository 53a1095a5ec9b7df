"""Signing in to the console: passwords (argon2id) and API tokens, sessions, CSRF, the
throttle on failed sign-ins, and the language switch."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from service.core.models import Role
from service.domain import auth, console_auth
from service.keys import store_key
from tests.conftest import START, Api, PinnedClock
from tests.console import ConsoleClient

PASSWORD = "correct horse battery"


async def _with_password(client: TestClient[Any, Any], login: str = "wang") -> ConsoleClient:
    await console_auth.set_password(
        client.app[store_key],
        login=login,
        password=PASSWORD,
        name="王组织",
        role=Role.ORGANISER,
        now=START,
    )
    return ConsoleClient(client)


def _cookie_header(page_headers: Any, name: str) -> str:
    found = [v for v in page_headers.getall("Set-Cookie", []) if v.startswith(f"{name}=")]
    return found[0] if found else ""


async def test_console_password_sign_in_opens_the_dashboard(client: TestClient[Any, Any]) -> None:
    browser = await _with_password(client)
    async with client.get("/console/sign-in") as resp:
        text = await resp.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', text)
    assert csrf
    async with client.post(
        "/console/sign-in",
        data={"login": " WANG ", "password": PASSWORD, "csrf": csrf.group(1)},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/console"
        cookie = _cookie_header(resp.headers, "linli_session")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    page = await browser.get("/console")
    assert page.status == 200 and page.has("王组织") and page.has("概览")


async def test_console_passwords_are_stored_as_argon2id(
    client: TestClient[Any, Any], db_path: Path
) -> None:
    await _with_password(client)
    stored = sqlite3.connect(db_path).execute("SELECT password_hash FROM staff").fetchall()
    assert len(stored) == 1 and stored[0][0].startswith("$argon2id$")
    assert PASSWORD not in stored[0][0]


async def test_console_wrong_password_and_unknown_name_get_the_same_answer(
    client: TestClient[Any, Any],
) -> None:
    browser = await _with_password(client)
    wrong = await browser.sign_in("wang", "not the password")
    nobody = await browser.sign_in("nobody", PASSWORD)
    for page in (wrong, nobody):
        assert page.status == 401
        assert page.error_for("_form") == "用户名或密码不正确。"
    assert (await browser.get("/console")).url.startswith("/console/sign-in")
    assert 'value="nobody"' in nobody.text  # the typed name is kept, the password is not
    assert PASSWORD not in nobody.text


async def test_console_failed_sign_ins_are_throttled(
    client: TestClient[Any, Any], clock: PinnedClock
) -> None:
    browser = await _with_password(client)
    for _ in range(console_auth.MAX_FAILURES):
        assert (await browser.sign_in("wang", "guess")).status == 401
        clock.advance(minutes=2)  # past the growing wait between failures
    throttled = await browser.sign_in("wang", PASSWORD)
    assert throttled.status == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert throttled.error_for("_form") == "登录失败次数过多，请 5 分钟后再试。"
    clock.advance(minutes=5)
    assert (await browser.sign_in("wang", PASSWORD)).url == "/console"


async def test_console_needs_a_session_and_comes_back_after_sign_in(
    client: TestClient[Any, Any],
) -> None:
    browser = await _with_password(client)
    page = await browser.get("/console?lang=en")
    assert page.url == "/console/sign-in?next=/console?lang%3Den"
    signed = await ConsoleClient(client).get("/console/sign-in?next=https://evil.example/")
    assert 'name="next" value="/console"' in signed.text  # no open redirect
    page = await browser.get("/console/sign-in?next=/console?lang%3Den")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    after = await browser.post(
        "/console/sign-in",
        {"login": "wang", "password": PASSWORD, "csrf": csrf.group(1), "next": "/console?lang=en"},
        csrf=False,
    )
    assert after.url == "/console?lang=en" and after.has("Dashboard")


async def test_console_forms_without_the_csrf_token_are_refused(
    console: ConsoleClient, client: TestClient[Any, Any]
) -> None:
    refused = await console.post("/console/sign-out", {}, csrf=False)
    assert refused.status == 403 and refused.by_id("error-code") == "csrf_failed"
    forged = await console.post("/console/sign-out", {"csrf": "forged"}, csrf=False)
    assert forged.status == 403
    assert (await console.get("/console")).status == 200  # still signed in
    fresh = ConsoleClient(client)
    no_cookie = await fresh.post(
        "/console/sign-in", {"login": "wang", "password": PASSWORD, "csrf": "x"}, csrf=False
    )
    assert no_cookie.status == 403


async def test_console_sign_out_ends_the_session_on_the_server(
    console: ConsoleClient, client: TestClient[Any, Any]
) -> None:
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/console"))
    session = cookie["linli_session"].value
    page = await console.post("/console/sign-out", {})
    assert page.url == "/console/sign-in" and page.flash == "您已退出登录。"
    async with client.get(
        "/console", cookies={"linli_session": session}, allow_redirects=False
    ) as resp:
        assert resp.status == 303  # the old cookie, replayed, opens nothing


async def test_console_token_sign_in_ends_with_the_token(
    client: TestClient[Any, Any], api: Api
) -> None:
    browser = ConsoleClient(client)
    assert (await browser.sign_in_token(api.token or "")).url == "/console"
    admin = Api(client, (await auth.issue_token(client.app[store_key], role=Role.ADMIN,
                                                name="管理员", now=START))[1])  # fmt: skip
    _, listed = await admin.get("/api/v1/tokens")
    token_id = next(t["id"] for t in listed["items"] if t["name"] == "王组织")
    status, _ = await admin.delete(f"/api/v1/tokens/{token_id}")
    assert status in (200, 204)
    assert (await browser.get("/console")).url.startswith("/console/sign-in")


async def test_console_refuses_door_tokens_and_bad_tokens(
    client: TestClient[Any, Any], api: Api
) -> None:
    status, room = await api.post("/api/v1/rooms", json={"name": "活动室", "capacity": 20})
    assert status == 201
    _, door = await auth.issue_token(
        client.app[store_key], role=Role.DOOR, name="门", room=room["id"], now=START
    )
    browser = ConsoleClient(client)
    page = await browser.sign_in_token(door)
    assert (
        page.status == 403
        and page.error_for("token") == "门口平板令牌只能打开 /tablet，不能登录管理后台。"
    )
    page = await browser.sign_in_token("lin_not-a-token")
    assert page.status == 401 and page.error_for("token") == "这个 API 令牌无效。"


async def test_console_language_switch_is_remembered(console: ConsoleClient) -> None:
    english = await console.get("/console?lang=en")
    assert english.has("Dashboard") and '<html lang="en">' in english.text
    again = await console.get("/console")
    assert again.has("Upcoming events")
    chinese = await console.get("/console?lang=zh-CN")
    assert chinese.has("即将举行的活动")


async def test_console_pages_forbid_framing_and_inline_script(console: ConsoleClient) -> None:
    page = await console.get("/console")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.text  # every script is a file, allowed by the policy


async def test_console_set_password_checks_its_input(client: TestClient[Any, Any]) -> None:
    store = client.app[store_key]
    bad = [
        {"login": "x", "password": PASSWORD},
        {"login": "wang li", "password": PASSWORD},
        {"login": "wang", "password": "short"},
    ]
    for fields in bad:
        try:
            await console_auth.set_password(
                store, name="王", role=Role.ORGANISER, now=START, **fields
            )
        except console_auth.ValidationError as exc:
            assert set(exc.fields) <= {"login", "password"}
        else:
            raise AssertionError(f"accepted {fields}")


async def test_console_spent_sessions_are_purged_by_housekeeping(
    console: ConsoleClient, client: TestClient[Any, Any], clock: PinnedClock, db_path: Path
) -> None:
    from service.domain import housekeeping

    await console.post("/console/sign-out", {})
    rows = sqlite3.connect(db_path).execute("SELECT count(*) FROM console_sessions").fetchone()
    assert rows == (1,)
    clock.advance(days=2)
    await housekeeping.tidy(client.app[store_key], clock)
    rows = sqlite3.connect(db_path).execute("SELECT count(*) FROM console_sessions").fetchone()
    assert rows == (0,)


async def test_console_a_form_posted_after_the_session_ended_goes_to_sign_in(
    client: TestClient[Any, Any],
) -> None:
    browser = ConsoleClient(client)
    page = await browser.post("/console/sign-out", {"csrf": "stale"}, csrf=False)
    assert page.url == "/console/sign-in?next=/console" and page.status == 200
