"""Writing outbox rows wakes the delivery worker by itself: the store tells it after the
commit, so no view or domain function has to remember to."""

from __future__ import annotations

from service.domain import sending
from service.keys import delivery_key, store_key
from tests.community import EVENTS, outbox_files, published_event, resident, settled
from tests.conftest import MakeApi, PinnedClock


async def test_outbox_wake_a_domain_write_reaches_the_worker_unasked(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    # The worker looks at the outbox on its own only once an hour: only being woken by the
    # commit can deliver the second invitation while the test waits.
    api = await make_api(**{"delivery.poll_interval_s": 3600})
    await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    first, second = await published_event(api), await published_event(api, title="读书会")
    # One invitation through the API, and delivered: the worker has used every wake-up
    # so far and waits for the next.
    status, _ = await api.post(f"{EVENTS}/{first}/send")
    assert status == 200
    await settled(api, first, total=1)
    app = api.client.app
    # Then the domain call alone: no view around it, and no wake() after it.
    report = await sending.send_event(
        app[store_key], app[delivery_key].ready(), second, now=clock()
    )
    assert report.queued == 1
    body = await settled(api, second, total=1)
    assert body["by_status"]["delivered"] == 1
    assert len(outbox_files(api, "sms")) == 2
