"""What an operator's probes see: /healthz turns 503 when messages are due and no worker
beats, and /metrics carries the heartbeat's age, the queue and its oldest due message."""

from __future__ import annotations

import re

from tests.community import EVENTS, published_event, resident, settled
from tests.conftest import Api, MakeApi, PinnedClock


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text, by name and labels."""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    series = f"{name}{{{inner}}}" if labels else name
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert found, f"{series} not in /metrics"
    return float(found.group(1))


async def queue_two_sms(api: Api) -> int:
    for n in range(2):
        await resident(api, f"居民{n}", f"1-1-{n}01", ("sms", f"+8613800138{n:03d}"))
    event_id = await published_event(api)
    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status in (200, 202), report
    return event_id


async def test_healthz_is_503_and_metrics_show_the_queue_when_no_worker_runs(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**{"delivery.run_in_server": False, "delivery.lease_s": 60})
    status, body = await api.get("/healthz")
    assert status == 200, body  # nothing due: no worker needed yet
    await queue_two_sms(api)
    clock.advance(seconds=90)

    status, body = await api.get("/healthz")
    assert status == 503, body
    assert body["error"]["code"] == "worker_stalled"
    assert "due for 90 s" in body["error"]["message"]
    assert "no worker has ever beaten" in body["error"]["message"]

    status, text = await api.get("/metrics")
    assert status == 200
    assert metric(text, "linli_outbox_messages", channel="sms", status="queued") == 2
    assert metric(text, "linli_outbox_messages", channel="sms", status="sending") == 0
    assert metric(text, "linli_outbox_messages", channel="email", status="queued") == 0
    assert metric(text, "linli_outbox_oldest_due_age_seconds", channel="sms") == 90
    assert metric(text, "linli_outbox_oldest_due_age_seconds", channel="email") == 0
    assert metric(text, "linli_worker_heartbeat_age_seconds") == float("inf")


async def test_healthz_is_200_and_the_heartbeat_fresh_with_a_working_worker(
    api: Api,
) -> None:
    event_id = await queue_two_sms(api)
    await settled(api, event_id, total=2)
    status, body = await api.get("/healthz")
    assert status == 200, body
    assert body["worker"]["oldest_due_age_s"] is None
    status, text = await api.get("/metrics")
    assert metric(text, "linli_worker_heartbeat_age_seconds") < 60
    assert metric(text, "linli_outbox_messages", channel="sms", status="queued") == 0
