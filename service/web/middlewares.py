"""Request middlewares: the access log with metrics, the early refusal of oversized
bodies, and the one error mapping."""

from __future__ import annotations

import logging
import time
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler

from ..core.errors import ServiceError
from ..keys import metrics_key, settings_key
from .console import base as console_base

access_log = logging.getLogger("linli.access")
log = logging.getLogger("linli.web")


def route_template(request: web.Request) -> str:
    """The matched route's template (`/api/v1/residents/{id}`), never the raw path, so that
    logs and metric labels carry no ids, tokens or personal data."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return "unmatched"
    return str(resource.canonical)


def _is_console(request: web.Request) -> bool:
    """A browser's request for a console page (its pages are HTML, whatever the address)."""
    return request.method in ("GET", "HEAD") and (
        request.path == "/console" or request.path.startswith("/console/")
    )


def _error_response(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log one line per request and count it by route and status."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = route_template(request)
        metrics = request.app[metrics_key]
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(route).observe(elapsed)
        if request.app[settings_key].server.access_log:
            access_log.info("%s %s %d %.1fms", request.method, route, status, elapsed * 1000)


def _too_large(limit: int) -> web.Response:
    return _error_response(413, "payload_too_large", f"request body is larger than {limit} bytes")


@web.middleware
async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A declared Content-Length over server.max_body_bytes gets 413 at once, before any
    of the body is read, and the connection is closed (aiohttp would otherwise read and
    discard the body for a while to keep the connection alive)."""
    limit = request.app[settings_key].server.max_body_bytes
    if request.content_length is None or request.content_length <= limit:
        return await handler(request)
    response = _too_large(limit)
    response.force_close()  # Connection: close
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # no lingering read of the rest of the body
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map coded errors, aiohttp's HTTP errors and anything unexpected to JSON errors."""
    try:
        return await handler(request)
    except ServiceError as exc:
        return web.json_response(exc.as_json(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        phrase = HTTPStatus(exc.status).phrase
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        if exc.status == 413:
            return _too_large(request.app[settings_key].server.max_body_bytes)
        if exc.status == 404 and _is_console(request):
            return await console_base.not_found_page(request)
        if exc.status == 404:
            message = f"no route for {request.method} {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed here"
        else:
            message = phrase
        response = _error_response(exc.status, code, message)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, route_template(request))
        return _error_response(500, "internal_error", "internal error; see the server log")
