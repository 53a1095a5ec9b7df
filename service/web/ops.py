"""Operations routes: health, metrics and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from ..core.metrics import CONTENT_TYPE
from ..keys import metrics_key, openapi_key, store_key
from .routing import Api

routes = Api(prefix="")


@routes.route(
    "GET",
    "/healthz",
    summary="Is the service up and its store answering?",
    tag="ops",
    roles=None,
    errors=(503,),
)
async def healthz(request: web.Request) -> web.Response:
    """200 when the store answers a query and passes SQLite's quick check, else 503."""
    store = request.app[store_key]
    try:
        check = await store.integrity_check()
    except Exception as exc:  # the point of a health check is to report, not to raise
        return web.json_response({"status": "unavailable", "store": str(exc)}, status=503)
    if check != "ok":
        return web.json_response({"status": "unavailable", "store": check}, status=503)
    return web.json_response(
        {"status": "ok", "store": "ok", "schema_version": store.schema_version}
    )


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
    """Requests by route and status, request latency, and the schema version."""
    body = request.app[metrics_key].render()
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
