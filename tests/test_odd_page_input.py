"""Odd input to the console and the residents' pages that once answered 500 (a fuzzing pass
found each): forms that cannot be read, digits int() refuses, ids and dates out of the
store's range, bytes that are not UTF-8 in cookies and headers. Each gets a 4xx page or is
ignored, and changes nothing."""

from __future__ import annotations

import asyncio

from service.keys import delivery_key
from service.messages.links import booking_token, rsvp_token
from tests.community import EVENTS, published_event, resident
from tests.conftest import Api
from tests.console import ConsoleClient

ROOMS = "/api/v1/rooms"


async def _raw(api: Api, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request as raw bytes (headers and cookies that no client library would send)
    and return the status and body."""
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    request = head.replace(b"\n", b"\r\n") + b"Connection: close\r\n"
    request += b"Content-Length: %d\r\n\r\n" % len(body) + body
    writer.write(request)
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def test_console_pages_refuse_odd_numbers_ids_and_dates(
    api: Api, console: ConsoleClient
) -> None:
    rid = await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
    event_id = await published_event(api)
    status, _ = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200

    # "²" is a digit to str.isdigit() but not to int().
    page = await console.get(f"/console/events/{event_id}/attendance?after=²")
    assert page.status == 200 and "张伟" in page.text
    for chosen in ("²", str(2**64)):
        page = await console.get(f"/console/events/{event_id}/preview?resident={chosen}")
        assert page.status == 400 and page.error_for("resident"), chosen
    page = await console.get(f"/console/residents/{2**64}")
    assert page.status == 404

    # Recording an answer for nobody: 404, and nobody is invited.
    page = await console.post(
        f"/console/events/{event_id}/attendance", {"resident_id": "999999", "answer": "yes"}
    )
    assert page.status == 404
    _, body = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert [i["resident_id"] for i in body["items"]] == [rid]

    status, created = await api.post(ROOMS, json={"name": "活动室", "capacity": 30})
    assert status == 201
    for start in ("9999-12-31", "0001-01-01"):
        page = await console.get(f"/console/rooms/{created['id']}/week?start={start}")
        assert page.status == 400 and "year must be between" in page.text, start

    form = {
        "kind": "activity",
        "title": "手工课",
        "starts_at": "0001-01-01T00:00",
        "ends_at": "2026-12-20T12:00",
    }
    page = await console.post("/console/events/new", form)
    assert page.status == 400 and "year must be between" in (page.error_for("starts_at") or "")


async def test_console_forms_that_cannot_be_read_are_400_and_change_nothing(
    api: Api, console: ConsoleClient
) -> None:
    await console.get("/console")
    cookie = console.client.session.cookie_jar.filter_cookies(console.client.make_url("/console"))
    session = cookie["linli_session"].value
    token = f"csrf={console.csrf}".encode()
    for content_type, body in (
        (b"application/x-www-form-urlencoded", token + b"&name=\xff\xfe&unit=1-1-101"),
        (b"application/x-www-form-urlencoded; charset=bogus-xx", token + b"&name=a"),
        (b"multipart/form-data; boundary=x", b"--x\r\ngarbage"),
        (b"multipart/form-data", b"--x\r\n"),
    ):
        status, page = await _raw(
            api,
            b"POST /console/residents/new HTTP/1.1\nHost: t\n"
            b"Cookie: linli_session=" + session.encode() + b"\n"
            b"Content-Type: " + content_type + b"\n",
            body,
        )
        assert status == 400, (content_type, page[:300])
    _, listed = await api.get("/api/v1/residents")
    assert listed["total"] == 0

    # A row number no page draws is ignored, not drawn 100,000 times over.
    page = await console.post(
        "/console/residents/new",
        {"name": "", "unit": "1-1-101", "contacts.99999.address": "x"},
    )
    assert page.status == 400 and len(page.text) < 200_000

    # A CSRF field that is not ASCII is a mismatch, not a crash.
    page = await console.post("/console/residents/new", {"name": "李娜", "csrf": "é"}, csrf=False)
    assert page.status == 403


async def test_cookies_and_tokens_that_are_not_utf8_are_refused_not_500(
    api: Api, console: ConsoleClient
) -> None:
    await console.get("/console")
    cookie = console.client.session.cookie_jar.filter_cookies(console.client.make_url("/console"))
    session = cookie["linli_session"].value.encode()
    for head, expected in (
        (b"GET /console/events HTTP/1.1\nHost: t\nCookie: linli_session=\xff\xfe\n", 303),
        (b"GET /tablet HTTP/1.1\nHost: t\nCookie: linli_door=\xff\xfe\n", 401),
        (b"GET /api/v1/events HTTP/1.1\nHost: t\nAuthorization: Bearer lin_\x80\n", 401),
        # A flash cookie we could not have set is not shown.
        (
            b"GET /console/events HTTP/1.1\nHost: t\n"
            b"Cookie: linli_session=" + session + b"; linli_flash=\xff\n",
            200,
        ),
    ):
        status, _ = await _raw(api, head)
        assert status == expected, head


async def test_residents_pages_take_odd_input_without_a_500(api: Api) -> None:
    rid = await resident(api, "Ann Lee", "3-2-1501", ("sms", "13800138000"), language="en")
    event_id = await published_event(api)
    status, _ = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200
    status, _ = await api.post(ROOMS, json={"name": "活动室", "capacity": 30})
    assert status == 201
    key = api.client.app[delivery_key].ready().links.key
    booking = f"/b/{booking_token(key, rid)}"
    answer = f"/r/{rsvp_token(key, event_id, rid)}"

    # Out of range or not digits: the page shows this week instead.
    for query in ("room=²", "start=9999-12-31", "start=0001-01-01"):
        async with api.client.get(f"{booking}?{query}") as resp:
            assert resp.status == 200, query
    # ?saved=1 before any answer: the page, with no confirmation.
    async with api.client.get(f"{answer}?saved=1") as resp:
        assert resp.status == 200 and "Saved:" not in await resp.text()

    for path in (answer, booking, f"{booking}/cancel"):
        for content_type, body in (
            ("multipart/form-data; boundary=x", b"--x\r\ngarbage"),
            ("application/x-www-form-urlencoded", b"answer=\xff&room_id=\xfe"),
        ):
            async with api.client.post(
                path, data=body, headers={"Content-Type": content_type}
            ) as resp:
                assert resp.status == 400, (path, content_type)
    _, body = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert body["items"][0]["answer"] == "pending"
