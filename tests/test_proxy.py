"""Behind a reverse proxy: whose forwarding headers are believed (server.trusted_proxies),
Secure cookies and HSTS over HTTPS, and an oversized body refused before it is read."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp.test_utils import TestClient

from service.core.models import Role
from service.domain import auth, console_auth
from service.keys import store_key
from tests.community import room
from tests.conftest import START, MakeApi

PASSWORD = "correct horse battery"


def _set_cookies(headers: Any) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {v.partition("=")[0]: v for v in headers.getall("Set-Cookie", [])}


def _secure(cookie: str) -> bool:
    return "secure" in {part.strip().lower() for part in cookie.split(";")[1:]}


async def _every_cookie(client: TestClient[Any, Any], headers: dict[str, str]) -> dict[str, str]:
    """Visit the pages that set cookies (sign-in form, language, session, flash, door)
    with these request headers; every Set-Cookie seen, and whether HSTS came with each."""
    seen: dict[str, str] = {}
    hsts: set[str | None] = set()
    await console_auth.set_password(
        client.app[store_key], login="wang", password=PASSWORD, name="王组织",
        role=Role.ORGANISER, now=START,
    )  # fmt: skip
    async with client.get("/console/sign-in?lang=en", headers=headers) as resp:
        text = await resp.text()
        seen.update(_set_cookies(resp.headers))
        hsts.add(resp.headers.get("Strict-Transport-Security"))
    csrf = re.search(r'name="csrf" value="([^"]+)"', text)
    assert csrf
    form = {"login": "wang", "password": PASSWORD, "csrf": csrf.group(1)}
    cookie = {"Cookie": f"linli_signin={csrf.group(1)}"}
    async with client.post(
        "/console/sign-in", data=form, headers=headers | cookie, allow_redirects=False
    ) as resp:
        assert resp.status == 303
        seen.update(_set_cookies(resp.headers))
        hsts.add(resp.headers.get("Strict-Transport-Security"))
    session = seen["linli_session"].split(";")[0]
    page = await client.get("/console", headers=headers | {"Cookie": session})
    meta = re.search(r'<meta name="csrf" content="([^"]*)"', await page.text())
    assert meta
    async with client.post(
        "/console/sign-out", data={"csrf": meta.group(1)}, headers=headers | {"Cookie": session},
        allow_redirects=False,
    ) as resp:  # fmt: skip
        seen.update(_set_cookies(resp.headers))
        hsts.add(resp.headers.get("Strict-Transport-Security"))
    return seen | {"hsts": " ".join(sorted(h or "none" for h in hsts))}


async def _door_cookie(make: MakeApi, headers: dict[str, str], **settings: Any) -> tuple[str, Any]:
    api = await make(**settings)
    hall = await room(api)
    _, token = await auth.issue_token(
        api.client.app[store_key], role=Role.DOOR, name="门", now=START, room=hall
    )
    async with api.client.get(
        f"/tablet?token={token}", headers=headers, allow_redirects=False
    ) as resp:
        return resp.headers["Set-Cookie"], resp.headers


COOKIES = {"linli_signin", "linli_lang", "linli_session", "linli_flash"}


async def test_proxy_https_from_a_trusted_proxy_makes_every_cookie_secure(
    make_api: MakeApi,
) -> None:
    api = await make_api(**{"server.trusted_proxies": ["127.0.0.0/8"]})
    seen = await _every_cookie(api.client, {"X-Forwarded-Proto": "https"})
    assert set(seen) >= COOKIES, seen
    assert all(_secure(seen[name]) for name in COOKIES), seen
    assert seen["hsts"] == "max-age=31536000"
    door, headers = await _door_cookie(
        make_api, {"X-Forwarded-Proto": "https"}, **{"server.trusted_proxies": ["127.0.0.1"]}
    )
    assert _secure(door) and headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_proxy_headers_from_an_untrusted_peer_are_ignored(make_api: MakeApi) -> None:
    api = await make_api(**{"server.trusted_proxies": ["10.0.0.0/8"]})
    seen = await _every_cookie(
        api.client, {"X-Forwarded-Proto": "https", "Forwarded": "for=192.0.2.1;proto=https"}
    )
    assert not any(_secure(seen[name]) for name in COOKIES), seen
    assert seen["hsts"] == "none"
    door, headers = await _door_cookie(make_api, {"X-Forwarded-Proto": "https"})
    assert not _secure(door) and "Strict-Transport-Security" not in headers


async def test_proxy_forwarded_header_and_https_public_url(make_api: MakeApi) -> None:
    trusting = await make_api(**{"server.trusted_proxies": ["127.0.0.1", "::1"]})
    seen = await _every_cookie(
        trusting.client, {"Forwarded": 'for=192.0.2.1;proto=https, for="[::1]";proto=http'}
    )
    assert all(_secure(seen[name]) for name in COOKIES), seen
    public = await make_api(**{"server.public_url": "https://linli.example.org"})
    seen = await _every_cookie(public.client, {})
    assert all(_secure(seen[name]) for name in COOKIES), seen
    assert seen["hsts"] == "max-age=31536000"


async def _bad_token(client: TestClient[Any, Any], forwarded_for: str) -> int:
    async with client.get("/console/sign-in") as resp:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert csrf
    async with client.post(
        "/console/sign-in",
        data={"token": "lin_wrong", "csrf": csrf.group(1)},
        headers={"X-Forwarded-For": forwarded_for},
        allow_redirects=False,
    ) as resp:
        return resp.status


async def test_proxy_the_client_is_the_rightmost_untrusted_hop(make_api: MakeApi) -> None:
    api = await make_api(**{"server.trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]})
    # The client made up the left part; 10.1.1.1 is a proxy of ours; 198.51.100.7 is who
    # our first proxy saw.
    chain = "203.0.113.{}, 198.51.100.7, 10.1.1.1"
    for i in range(console_auth.ADDRESS_MAX_FAILURES):
        assert await _bad_token(api.client, chain.format(i)) == 401
    assert await _bad_token(api.client, chain.format(99)) == 429
    assert await _bad_token(api.client, "198.51.100.8, 10.1.1.1") == 401


async def test_proxy_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_api: MakeApi,
) -> None:
    api = await make_api()
    for i in range(console_auth.ADDRESS_MAX_FAILURES):
        assert await _bad_token(api.client, f"198.51.100.{i}") == 401
    assert await _bad_token(api.client, "198.51.100.200") == 429  # all are 127.0.0.1


async def test_proxy_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    make_api: MakeApi,
) -> None:
    api = await make_api()
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /api/v1/residents HTTP/1.1\r\nHost: linli\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{"
    )
    await writer.drain()

    async def answer() -> bytes:
        return await reader.read()  # to the end: the server closes the connection

    # The body is never sent: the answer can only come from the declared length.
    raw = await asyncio.wait_for(answer(), 60)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "payload_too_large"
