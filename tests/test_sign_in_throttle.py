"""The throttle on failed console sign-ins under attack: bursts, progressive delays, a
stranger behind the same proxy, a spray of addresses, IPv6 networks."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.core.errors import AuthenticationError, TooManyRequestsError
from service.core.models import Role
from service.delivery.ratelimit import FailureLimit
from service.domain import console_auth
from service.keys import store_key
from tests.conftest import START, PinnedClock
from tests.console import ConsoleClient

PASSWORD = "correct horse battery"


async def _staff(client: TestClient[Any, Any], *logins: str) -> None:
    for login in logins:
        await console_auth.set_password(
            client.app[store_key], login=login, password=PASSWORD, name=login,
            role=Role.ORGANISER, now=START,
        )  # fmt: skip


async def _form_token(client: TestClient[Any, Any]) -> str:
    async with client.get("/console/sign-in") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert found
    return found.group(1)


async def _post(client: TestClient[Any, Any], csrf: str, login: str, password: str) -> Any:
    form = {"login": login, "password": password, "csrf": csrf}
    async with client.post("/console/sign-in", data=form, allow_redirects=False) as resp:
        await resp.read()
        return resp


def _signed_in(resp: Any) -> bool:
    return resp.status == 303 and "linli_session" in resp.cookies


async def test_sign_in_burst_checks_at_most_the_limit(client: TestClient[Any, Any]) -> None:
    await _staff(client, "demo")
    csrf = await _form_token(client)
    burst = [asyncio.ensure_future(_post(client, csrf, "demo", f"guess {i}")) for i in range(50)]
    # Once one guess is refused the reservations are all taken; the right password now,
    # while the checked guesses may still be running, must not get in.
    pending = set(burst)
    while pending and not any(t.done() and t.result().status == 429 for t in burst):
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    right = await _post(client, csrf, "demo", PASSWORD)
    answers = await asyncio.gather(*burst)
    checked = [a for a in answers if a.status != 429]
    assert len(checked) <= console_auth.MAX_FAILURES
    assert all(a.status == 401 for a in checked)
    assert right.status == 429 and not _signed_in(right)
    assert int(right.headers["Retry-After"]) > 0


async def test_sign_in_waits_longer_after_each_failure(
    client: TestClient[Any, Any], clock: PinnedClock
) -> None:
    await _staff(client, "wang")
    browser = ConsoleClient(client)
    for _ in range(console_auth.FREE_FAILURES + 1):
        assert (await browser.sign_in("wang", "typo")).status == 401
    too_soon = await browser.sign_in("wang", PASSWORD)
    assert too_soon.status == 429
    first_wait = int(too_soon.headers["Retry-After"])
    clock.advance(seconds=first_wait)
    assert (await browser.sign_in("wang", "typo")).status == 401
    second_wait = int((await browser.sign_in("wang", PASSWORD)).headers["Retry-After"])
    assert second_wait > first_wait
    clock.advance(seconds=second_wait)
    assert (await browser.sign_in("wang", PASSWORD)).url == "/console"


async def test_sign_in_a_stranger_behind_the_same_proxy_cannot_lock_out_the_real_user(
    client: TestClient[Any, Any], clock: PinnedClock
) -> None:
    await _staff(client, "wang", "li")
    csrf = await _form_token(client)
    # Everyone here comes from 127.0.0.1: a stranger sprays made-up names until the
    # address is past its limit.
    for i in range(console_auth.ADDRESS_MAX_FAILURES):
        assert (await _post(client, csrf, f"nobody{i}", "guess")).status == 401
    refused = await _post(client, csrf, "nobody-else", "guess")
    assert refused.status == 429
    # A real account's wrong password is refused the same way (no name is given away) …
    assert (await _post(client, csrf, "li", "guess")).status == 429
    # … and its right password still signs in.
    assert _signed_in(await _post(client, csrf, "wang", PASSWORD))


async def test_sign_in_an_account_lock_locks_that_account_only(
    client: TestClient[Any, Any], clock: PinnedClock
) -> None:
    await _staff(client, "wang", "li")
    csrf = await _form_token(client)
    for _ in range(console_auth.MAX_FAILURES):
        assert (await _post(client, csrf, "wang", "guess")).status == 401
        clock.advance(minutes=2)
    assert (await _post(client, csrf, "wang", PASSWORD)).status == 429
    assert _signed_in(await _post(client, csrf, "li", PASSWORD))


async def _try(
    client: TestClient[Any, Any],
    throttle: console_auth.SignInThrottle,
    login: str,
    addr: str,
    password: str = "guess",
    minute: int = 0,
) -> str:
    """Sign in through the domain function with the throttle under test; the outcome."""
    now = START + timedelta(minutes=minute)
    try:
        await console_auth.sign_in_with_password(
            client.app[store_key], login, password, now=now, throttle=throttle, client=addr
        )
    except TooManyRequestsError:
        return "throttled"
    except AuthenticationError:
        return "refused"
    return "signed in"


async def test_sign_in_a_spray_of_addresses_does_not_unlock_an_account(
    client: TestClient[Any, Any],
) -> None:
    await _staff(client, "wang")
    throttle = console_auth.SignInThrottle(size=10)
    for i in range(console_auth.MAX_FAILURES):
        assert await _try(client, throttle, "wang", f"198.51.100.{i}", minute=i) == "refused"
    for i in range(30):  # three times the table, each from its own address
        await _try(client, throttle, f"spray{i}", f"203.0.113.{i}", minute=5)
    assert len(throttle.names) <= 11 and len(throttle.addresses) <= 11
    assert await _try(client, throttle, "wang", "192.0.2.1", PASSWORD, minute=6) == "throttled"


def test_sign_in_failure_limit_keeps_locked_keys_and_forgets_idle_ones() -> None:
    limit = FailureLimit(2, timedelta(minutes=15), free=2, delay=timedelta(0), size=10)
    for key in ("locked", "kept"):
        for _ in range(2):
            limit.reserve(key, START)
            limit.settle(key, START, failed=True, keep=key == "kept")
    for i in range(100):
        limit.reserve(f"idle{i}", START)
        limit.settle(f"idle{i}", START, failed=False)
    assert len(limit) <= 10
    # A lock survives idle keys; only a flood of other locks may push out an unkept one.
    assert limit.wait("locked", START) and limit.wait("kept", START)
    for i in range(100):
        for _ in range(2):
            limit.reserve(f"lock{i}", START)
            limit.settle(f"lock{i}", START, failed=True)
    assert len(limit) <= 10 and limit.wait("kept", START)


@pytest.mark.parametrize(
    "host",
    ["2001:db8:1:2::{}", "::ffff:192.0.2.7"],
    ids=["ipv6-hosts-of-one-64", "ipv4-mapped"],
)
async def test_sign_in_an_ipv6_network_counts_as_one_address(
    client: TestClient[Any, Any], host: str
) -> None:
    throttle = console_auth.SignInThrottle()
    # Every host of one /64 is one address; so is an IPv4 address, written mapped or not.
    others = {"::ffff:192.0.2.7": "192.0.2.7", "192.0.2.7": "::ffff:192.0.2.7"}
    hosts = [others.get(host, host.format(i + 1)) for i in range(console_auth.ADDRESS_MAX_FAILURES)]
    outcomes = [await _try(client, throttle, f"nobody{i}", h) for i, h in enumerate(hosts)]
    assert outcomes == ["refused"] * console_auth.ADDRESS_MAX_FAILURES
    assert await _try(client, throttle, "nobody-else", host.format(99)) == "throttled"
    assert await _try(client, throttle, "nobody-else", "2001:db8:1:3::1") == "refused"
