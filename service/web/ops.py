"""Operations routes: health, metrics and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from ..core.metrics import CONTENT_TYPE
from ..domain import passbook, worker_health
from ..keys import clock_key, metrics_key, openapi_key, settings_key, store_key
from .routing import Api

routes = Api(prefix="")


@routes.route(
    "GET",
    "/healthz",
    summary="Is the service up, its store answering, and delivery not stalled?",
    tag="ops",
    roles=None,
    errors=(503,),
)
async def healthz(request: web.Request) -> web.Response:
    """200 when the store answers a query and passes SQLite's quick check and delivery is
    not stalled; else 503 with an `error` whose code says which (store_unavailable,
    worker_stalled: messages are due and no worker has beaten within delivery.lease_s)."""
    store = request.app[store_key]
    try:
        check = await store.integrity_check()
    except Exception as exc:  # the point of a health check is to report, not to raise
        return _unavailable("store_unavailable", str(exc), store=str(exc))
    if check != "ok":
        return _unavailable("store_unavailable", check, store=check)
    lease_s = request.app[settings_key].delivery.lease_s
    health = await worker_health.worker_health(store, request.app[clock_key](), lease_s)
    worker = {
        "beat_age_s": health.beat_age_s,
        "oldest_due_age_s": health.oldest_due_age_s,
        "lease_s": lease_s,
    }
    if health.stalled:
        return _unavailable("worker_stalled", health.reason(), store="ok", worker=worker)
    return web.json_response(
        {"status": "ok", "store": "ok", "schema_version": store.schema_version, "worker": worker}
    )


def _unavailable(code: str, message: str, **detail: object) -> web.Response:
    """A 503 in the API's error shape (so the documented Error schema holds), with detail."""
    body = {"status": "unavailable", **detail, "error": {"code": code, "message": message}}
    return web.json_response(body, status=503)


@routes.route(
    "GET",
    "/metrics",
    summary="Prometheus metrics",
    tag="ops",
    roles=None,
    response=str,
    response_media="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    """Requests by route and status, request latency, the schema version, and delivery:
    the worker heartbeat's age, the queue by channel and status, the oldest due message;
    points issued and redeemed (two reads of the passbook's two community accounts)."""
    figures = await worker_health.queue_figures(request.app[store_key], request.app[clock_key]())
    metrics = request.app[metrics_key]
    metrics.set_outbox(figures.beat_age_s, figures.waiting, figures.oldest_due_age_s)
    issued, redeemed = await passbook.totals(request.app[store_key].reader)
    metrics.points_issued.set(issued)
    metrics.points_redeemed.set(redeemed)
    body = metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


@routes.route(
    "GET",
    "/api/v1/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    tag="ops",
    roles=None,
    response=dict,
)
async def openapi(request: web.Request) -> web.Response:
    """Public, like any API reference: it describes routes and holds no data."""
    return web.json_response(request.app[openapi_key])
