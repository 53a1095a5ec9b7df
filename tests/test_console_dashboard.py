"""The console's dashboard: upcoming events with answers, today's bookings, delivery health
and the warnings an organiser must not miss."""

from __future__ import annotations

from datetime import timedelta

from service.domain.dashboard import FAILING_RUN, failing_channels
from service.store.dashboard import RecentAttempt
from tests.community import book, published_event, resident, room, settled
from tests.conftest import START, Api, MakeApi
from tests.console import ConsoleClient


async def test_dashboard_shows_events_answers_bookings_and_health(
    api: Api, console: ConsoleClient
) -> None:
    people = [
        await resident(api, f"居民{n}", f"1-1-{n}01", ("sms", f"+8613800138{n:03d}"))
        for n in range(3)
    ]
    event_id = await published_event(api, title="跳蚤市场：旧物换新家", max_party_size=4)
    status, _ = await api.post(f"/api/v1/events/{event_id}/send")
    assert status in (200, 202)
    await settled(api, event_id, total=3)
    status, answered = await api.post(
        f"/api/v1/events/{event_id}/answers",
        json={"resident_id": people[0], "answer": "yes", "party_size": 2},
    )
    assert status in (200, 201), answered
    await settled(api, event_id, total=4)  # the three invitations and the yes's confirmation
    room_id = await room(api)
    status, made = await book(
        api, room_id, "2026-11-28T14:00", "2026-11-28T16:00", title="合唱排练", override_rules=True
    )
    assert status == 201, made

    page = await console.get("/console?lang=en")
    assert page.status == 200
    row = page.text.split("跳蚤市场：旧物换新家")[1].split("</tr>")[0]
    # yes 1 (2 people), no 0, maybe 0, waitlisted 0, pending 2
    cells = [c.split("<")[0] for c in row.split('class="num">')[1:]]
    assert cells == ["1", "2", "0", "0", "0", "2"]
    assert page.by_id("today-bookings") is not None and page.has("14:00–16:00 · 活动室 · 合唱排练")
    assert page.by_id("health-sent") == "4" and page.by_id("health-failed") == "0"
    assert page.by_id("worker-warning") is None


async def test_dashboard_warns_when_no_worker_runs(make_api: MakeApi) -> None:
    api = await make_api(**{"delivery.run_in_server": False})
    browser = ConsoleClient(api.client)
    await browser.sign_in_token(api.token or "")
    page = await browser.get("/console?lang=en")
    assert page.by_id("worker-warning") == (
        "The delivery worker has never run. Messages are not going out: check the server."
    )


def test_dashboard_names_a_channel_whose_recent_attempts_all_failed() -> None:
    def attempt(channel: str, minutes: int, outcome: str) -> RecentAttempt:
        error = "connection refused" if outcome != "sent" else None
        return RecentAttempt(channel, START - timedelta(minutes=minutes), outcome, error)

    newest_first = [attempt("sms", n, "temporary") for n in range(FAILING_RUN)]
    newest_first += [attempt("email", n, "temporary") for n in range(FAILING_RUN - 1)]
    newest_first += [attempt("email", 30, "sent")]
    newest_first += [attempt("webhook", n, "permanent") for n in range(FAILING_RUN - 1)]
    failing = failing_channels(newest_first)
    assert [(f.channel, f.last_error) for f in failing] == [("sms", "connection refused")]
