"""The OpenAPI 3.1 document, built from the declared routes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pydantic

from .. import __version__
from .routing import ListOf, Operation, RawBody

REF = "#/components/schemas/{model}"

_ERROR_TEXT = {
    400: "Invalid input: the body, a field or a parameter (see error.fields)",
    401: "No API token, or an unknown, revoked or expired one",
    403: "The token's role may not call this route",
    404: "No such object",
    409: "The object's state forbids this (e.g. an illegal status transition)",
    413: "The request body is larger than server.max_body_bytes",
    415: "The request body has the wrong Content-Type",
}

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable snake_case cause"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                "checked_in_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "already_checked_in: when the code was checked in",
                },
                "name": {
                    "type": "string",
                    "description": "already_checked_in: whose code it is, masked (张*)",
                },
            },
        }
    },
}


class _Schemas:
    """Collects JSON Schemas for components and hands out $refs."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
        self._types: dict[str, type] = {}

    def ref(self, tp: type, mode: str = "serialization") -> dict[str, Any]:
        schema = _plain_tuples(
            pydantic.TypeAdapter(tp).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        )
        self.components.update(schema.pop("$defs", {}))
        name = tp.__name__
        # Components are named after their class: two classes of one name (an ItemIn of
        # the points store and one of the consultation list) would silently share a schema.
        if self._types.setdefault(name, tp) is not tp:
            raise RuntimeError(f"two request or response models are named {name}: rename one")
        self.components[name] = schema
        return {"$ref": REF.format(model=name)}

    def response(self, response: type | ListOf) -> dict[str, Any]:
        if isinstance(response, ListOf):
            return {
                "type": "object",
                "required": ["items", "total", "limit", "offset"],
                "properties": {
                    "items": {"type": "array", "items": self.ref(response.item)},
                    "total": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "offset": {"type": "integer"},
                },
            }
        return self.ref(response)


def _plain_tuples(schema: Any) -> Any:
    """`schema` with each tuple of one type (pydantic's prefixItems of equal items, as for
    a (start, end) pair) written as an array of that type with its length: the same values,
    in the form every OpenAPI tool reads (some still take `items` for a list of schemas)."""
    if isinstance(schema, list):
        return [_plain_tuples(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _plain_tuples(value) for key, value in schema.items()}
    prefix = out.get("prefixItems")
    if prefix and all(item == prefix[0] for item in prefix) and "items" not in out:
        del out["prefixItems"]
        out["items"] = prefix[0]
        out.setdefault("minItems", len(prefix))
        out.setdefault("maxItems", len(prefix))
    return out


# A path parameter's pattern in the router: `\d+` is an id, `a|b|c` a choice of words.
_PATH_PARAM = re.compile(r"\{(\w+)(?::([^{}]+(?:\{[^{}]*\}[^{}]*)*))?\}")
_WORDS = re.compile(r"\w+(?:\|\w+)*")


def _path_schema(pattern: str | None) -> dict[str, Any]:
    """The JSON Schema of what the router takes for one path parameter."""
    if pattern == r"\d+":
        return {"type": "integer"}
    if pattern is None:
        return {"type": "string"}
    if _WORDS.fullmatch(pattern):
        return {"type": "string", "enum": pattern.split("|")}
    return {"type": "string", "pattern": f"^(?:{pattern})$"}


def _parameters(op: Operation, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(pattern or None)}
        for name, pattern in _PATH_PARAM.findall(op.path)
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        schemas.components.update(schema.pop("$defs", {}))
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            entry: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if "description" in prop:
                entry["description"] = prop["description"]
            if prop.get("type") == "array":
                entry["explode"] = True
            params.append(entry)
    return params


def _operation(op: Operation, schemas: _Schemas) -> dict[str, Any]:
    out: dict[str, Any] = {
        # The route's name: unique, where handlers' names are not (the console's repeat
        # some of the API's). Dots are not used in the identifiers code generators make.
        "operationId": op.name.replace(".", "_"),
        "summary": op.summary,
        "tags": [op.tag],
    }
    doc = (op.handler.__doc__ or "").strip()
    if doc and doc != op.summary:
        out["description"] = doc
    if op.roles is None:
        out["security"] = []
    else:
        out["x-roles"] = sorted(op.roles)
    params = _parameters(op, schemas)
    if params:
        out["parameters"] = params
    if isinstance(op.body, RawBody):
        out["requestBody"] = {
            "required": True,
            "description": op.body.description,
            "content": {op.body.media_type: {"schema": {"type": "string"}}},
        }
    elif op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(op.body, "validation")}},
        }
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        if op.response_media == "application/json":
            schema = schemas.response(op.response)
        else:
            schema = {"type": "string"}
        ok["content"] = {op.response_media: {"schema": schema}}
    responses: dict[str, Any] = {str(op.status): ok}
    codes = set(op.errors)
    if op.roles is not None:
        codes |= {401, 403}
    if op.body is not None:
        codes |= {400, 413, 415}
    if op.query is not None:
        codes.add(400)
    if op.path_params:
        codes.add(404)
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _ERROR_TEXT.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
    out["responses"] = responses
    return out


def build_document(operations: Iterable[Operation], title: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for these routes."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for op in operations:
        entry = _operation(op, schemas)
        # OpenAPI requires operationIds unique; two routes sharing one fails at start-up.
        other = seen.setdefault(entry["operationId"], f"{op.method} {op.path}")
        if other != f"{op.method} {op.path}":
            raise ValueError(f"operationId {entry['operationId']} names {other} and {op.path}")
        paths.setdefault(op.doc_path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": "Linli (邻里): notifications, RSVPs and check-ins for a residential "
            "community. Send `Authorization: Bearer <token>`; times are ISO 8601, shown in "
            "the community's time zone; naive times in requests are read in that zone.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
