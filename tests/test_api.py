"""API-wide promises: the OpenAPI document, role checks, JSON errors, health, metrics, logs."""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator

from service.app import ROUTE_TABLES, create_app
from service.core.models import Role
from service.domain import auth
from service.keys import store_key
from service.settings import load_settings
from service.store import rooms as room_sql
from tests.conftest import START, AiohttpClient, Api

# POST routes that are actions on the object in their path and take no body.
BODILESS_ACTIONS = (
    "/publish",
    "/cancel",
    "/send",
    "/retry",
    "/u/{token}",
    "/invite-first",
    "/dismiss",
)
# Where the HTML pages live: the console, residents' pages (the passbook and needs pages
# too), the door tablet, the points store's counter, the public leaderboard and board.
PAGES = (
    "/console", "/r/", "/b/", "/g/", "/u/", "/tablet", "/p/", "/counter", "/points/leaderboard",
    "/n/", "/board",
)  # fmt: skip


def _fill(path: str) -> str:
    return re.sub(r"\{\w+(:[^}]+)?\}", "1", path)


def _operations() -> list[Any]:
    return [op for table in ROUTE_TABLES for op in table.operations]


async def test_openapi_documents_every_route_of_the_router(client: TestClient[Any, Any]) -> None:
    async with client.get("/api/v1/openapi.json") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    # The pages people open in a browser are left out of the API's document; only they.
    pages = {
        (op.method, op.doc_path) for t in ROUTE_TABLES if not t.documented for op in t.operations
    }
    assert pages and all(path.startswith(PAGES) for _, path in pages), pages
    missing = []
    for resource in client.app.router.resources():
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", resource.canonical)
        for route in resource:
            if route.method == "HEAD" or path.startswith("/console/"):
                continue  # the console's own static routes are not declared in its tables
            if (route.method, path) not in documented | pages:
                missing.append(f"{route.method} {path}")
    assert missing == [], f"routes missing from the OpenAPI document: {missing}"
    assert not documented & pages


async def test_openapi_describes_bodies_and_responses(client: TestClient[Any, Any]) -> None:
    async with client.get("/api/v1/openapi.json") as resp:
        doc = await resp.json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"], f"{method} {path} has no summary"
            assert op["responses"], f"{method} {path} has no responses"
            if method in ("post", "patch", "put") and not path.endswith(BODILESS_ACTIONS):
                assert "requestBody" in op, f"{method} {path} has no request body"
    refs = re.findall(r'"#/components/schemas/([^"]+)"', str(doc).replace("'", '"'))
    assert set(refs) <= set(doc["components"]["schemas"]), "dangling $ref"


def _documented(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, path, op) for path, ops in doc["paths"].items() for m, op in ops.items()]


async def test_the_openapi_document_validates_and_names_each_operation_once(
    client: TestClient[Any, Any],
) -> None:
    async with client.get("/api/v1/openapi.json") as resp:
        doc = await resp.json()
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []
    ids = Counter(op["operationId"] for _, _, op in _documented(doc))
    assert [name for name, n in ids.items() if n > 1] == []
    # A path parameter is documented with the type the router takes.
    params = {
        (path, p["name"]): p["schema"]
        for _, path, op in _documented(doc)
        for p in op.get("parameters", [])
        if p["in"] == "path"
    }
    assert params[("/api/v1/checkins/{code}", "code")]["type"] == "string"
    assert params[("/api/v1/events/{id}", "id")]["type"] == "integer"
    assert params[("/api/v1/rooms/{id}/bookings/{bid}", "bid")]["type"] == "integer"


async def test_an_integer_query_parameter_too_large_for_the_store_is_a_400_naming_it(
    admin: Api,
) -> None:
    # SQLite cannot even take a parameter past 2**63 - 1: unchecked, one was a 500.
    checked = []
    for op in _operations():
        if op.method != "GET" or op.query is None:
            continue
        for name, field in op.query.model_fields.items():
            if field.annotation not in (int, int | None):
                continue
            status, body = await admin.get(_fill(op.path), params={name: str(2**64)})
            assert status == 400, f"GET {op.path}?{name}=2**64 answered {status}: {body}"
            assert name in body["error"]["message"], body
            checked.append(f"{op.path}?{name}")
    assert "/api/v1/events/{id:\\d+}/attendance?after" in checked


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"unit": "1-' + b"[" * 100_000, "is not valid JSON"),
        (b'{"unit": "1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too deeply"),
        (b'{"unit": "1", "n": ' + b"9" * 5000 + b"}", "number too long"),
    ],
)
async def test_a_json_body_no_one_could_store_is_a_400_and_writes_nothing(
    api: Api, raw: bytes, says: str
) -> None:
    headers = {"Content-Type": "application/json"}
    status, body = await api.post("/api/v1/households", data=raw, headers=headers)
    assert status == 400 and body["error"]["code"] == "invalid_json", body
    assert says in body["error"]["message"]
    # Readable JSON whose string no text can hold: the field is named, as for other text.
    raw = b'{"unit": "1-1-101", "notes": "\\ud800"}'
    status, body = await api.post("/api/v1/households", data=raw, headers=headers)
    assert status == 400 and set(body["error"]["fields"]) == {"notes"}, body
    status, body = await api.get("/api/v1/households")
    assert status == 200 and body["total"] == 0


async def test_api_every_protected_route_needs_a_token(anonymous: Api) -> None:
    for op in _operations():
        if op.roles is None:
            continue
        status, body = await anonymous.call(op.method, _fill(op.path))
        assert status == 401, f"{op.method} {op.path} answered {status} without a token"
        assert body["error"]["code"] == "unauthenticated"


async def test_api_a_door_token_is_refused_on_staff_routes(client: TestClient[Any, Any]) -> None:
    store = client.app[store_key]
    await store.write(lambda tx: room_sql.insert_room(tx, "活动室", 30, "", START))
    _, token = await auth.issue_token(
        store, role=Role.DOOR, name="门口平板", room="活动室", now=START
    )
    door = Api(client, token)
    checked = 0
    for op in _operations():
        if op.roles is None or Role.DOOR in op.roles:
            continue
        status, body = await door.call(op.method, _fill(op.path))
        assert status == 403, f"{op.method} {op.path} answered {status} to a door token"
        assert body["error"]["code"] == "forbidden"
        checked += 1
    assert checked >= 5


async def test_api_an_unknown_token_is_401(client: TestClient[Any, Any]) -> None:
    status, body = await Api(client, "lin_not-a-real-token").get("/api/v1/households")
    assert status == 401 and body["error"]["code"] == "invalid_token"


async def test_api_unknown_route_and_method_are_json_errors(api: Api) -> None:
    status, body = await api.get("/api/v1/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api.call("PUT", "/api/v1/households")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"


async def test_api_body_over_the_limit_is_413(
    aiohttp_client: AiohttpClient, db_path: Any, clock: Any
) -> None:
    settings = load_settings(overrides={"store.path": str(db_path), "server.max_body_bytes": 2048})
    client = await aiohttp_client(create_app(settings, clock=clock))
    _, token = await auth.issue_token(
        client.app[store_key], role=Role.ORGANISER, name="x", now=START
    )
    status, body = await Api(client, token).post(
        "/api/v1/households", json={"unit": "1-1-101", "notes": "长" * 5000}
    )
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    status, page = await Api(client, token).get("/api/v1/households")
    assert page["total"] == 0


async def test_healthz_reports_the_store(anonymous: Api) -> None:
    status, body = await anonymous.get("/healthz")
    assert status == 200
    assert body["status"] == "ok" and body["schema_version"] >= 1


async def test_every_get_route_answers_head_with_the_same_status(
    client: TestClient[Any, Any], api: Api
) -> None:
    # Link checkers and mail scanners send HEAD; it was a 405 everywhere.
    token = {"Authorization": f"Bearer {api.token}"}
    for path, headers, status in (
        ("/healthz", {}, 200),
        ("/api/v1/households", token, 200),
        ("/api/v1/households", {}, 401),
        ("/u/forged", {}, 404),
    ):
        async with client.head(path, headers=headers) as resp:
            assert resp.status == status, path
            assert await resp.read() == b""


async def test_metrics_count_requests_by_route_and_status(api: Api, anonymous: Api) -> None:
    await api.get("/api/v1/households/12345")
    await api.get("/api/v1/households")
    status, text = await anonymous.get("/metrics")
    assert status == 200
    assert (
        'linli_http_requests_total{method="GET",route="/api/v1/households/{id}",status="404"} 1.0'
        in text
    )
    assert 'route="/api/v1/households",status="200"' in text
    assert re.search(r"^linli_schema_version \d+\.0$", text, re.M)


async def test_access_log_has_one_line_per_request_without_personal_data(
    aiohttp_client: AiohttpClient, db_path: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(overrides={"store.path": str(db_path)})
    client = await aiohttp_client(create_app(settings, clock=clock))
    _, token = await auth.issue_token(client.app[store_key], role=Role.ADMIN, name="a", now=START)
    caplog.set_level(logging.INFO, logger="linli.access")
    api = Api(client, token)
    await api.get("/api/v1/households", params={"q": "13812345678 someone@example.com"})
    await api.get("/api/v1/households/77")
    lines = [r.getMessage() for r in caplog.records if r.name == "linli.access"]
    assert len(lines) == 2
    assert lines[0].startswith("GET /api/v1/households 200 ")
    assert lines[1].startswith("GET /api/v1/households/{id} 404 ")
    joined = "\n".join(lines)
    assert "13812345678" not in joined and "example.com" not in joined
