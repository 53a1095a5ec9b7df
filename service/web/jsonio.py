"""Turning requests into validated values and domain objects into JSON."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from enum import Enum
from typing import Annotated, Any, ClassVar, Final, TypeVar, get_args

import pydantic
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from ..core import jsontext
from ..core.errors import (
    NotFoundError,
    PayloadTooLargeError,
    Reason,
    UnsupportedMediaError,
    ValidationError,
)
from ..core.text import TEXT_NOT_UNICODE
from ..keys import settings_key

M = TypeVar("M", bound=pydantic.BaseModel)
# SQLite's largest integer: a bigger id in a path or body cannot name a row (and would not
# even convert to a query parameter).
MAX_ID: Final = 2**63 - 1
Id = Annotated[int, pydantic.Field(ge=1, le=MAX_ID)]
# What the domain's check_text and check_name refuse, in the document: control characters
# (in one line also line breaks), after the whitespace str.strip() trims at either end
# (_Input trims it first; ECMA's \s is not quite Python's, hence the list).
_TRIMMED: Final = (
    "[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000]*"
)
LINE: Final[dict[str, Any]] = {"pattern": f"^{_TRIMMED}[^\\x00-\\x1f\\x7f]*{_TRIMMED}$"}
TEXT: Final[dict[str, Any]] = {
    "pattern": f"^{_TRIMMED}[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*{_TRIMMED}$"
}
# A text without NUL characters (SQLite and the channels would cut it there).
NO_NUL: Final = r"^[^\x00]*$"


def path_id(request: web.Request, code: str, what: str, name: str = "id") -> int:
    """The path's `{name}`; one too large to exist is a 404 with `code`."""
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise NotFoundError(f"no {what} {value}", code=code)
    return value


def read_int(raw: object) -> int | None:
    """A whole number typed into a form or a query string (ASCII digits, at most MAX_ID),
    or None for anything else."""
    # isascii: str.isdigit() also says yes to "²", which int() refuses.
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 19:
        value = int(raw)
        return value if value <= MAX_ID else None
    return None


# Types pydantic reads as dates or times; it also reads a number (or a string of digits)
# as seconds since 1970, which no person means: `starts_at: 0`, `?start=0`, `20261205`.
_TIME_TYPES: Final = (
    date,
    pydantic.AwareDatetime,
    pydantic.NaiveDatetime,
    pydantic.PastDate,
    pydantic.FutureDate,
    pydantic.PastDatetime,
    pydantic.FutureDatetime,
)
_NUMBER: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
NOT_A_TIME: Final = "must be an ISO 8601 date or time (e.g. 2026-12-05T09:00+08:00), not a number"


def _takes_time(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, _TIME_TYPES):
        return True
    return any(_takes_time(arg) for arg in get_args(annotation))


_TIME_FIELDS: dict[type, frozenset[str]] = {}


class _Input(pydantic.BaseModel):
    """What every body and query shares: unknown fields are refused, strings trimmed, and
    no number is taken for a date or time."""

    model_config = pydantic.ConfigDict(extra="forbid", str_strip_whitespace=True)

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _no_number_is_a_time(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        names = _TIME_FIELDS.get(cls)
        if names is None:
            names = _TIME_FIELDS[cls] = frozenset(
                name for name, field in cls.model_fields.items() if _takes_time(field.annotation)
            )
        if info.field_name in names and (
            isinstance(value, int | float)
            or (isinstance(value, str) and _NUMBER.fullmatch(value.strip()))
        ):
            raise ValueError(NOT_A_TIME)
        return value


def _takes(annotation: Any, kinds: tuple[type, ...]) -> bool:
    if annotation in kinds:
        return True
    return any(_takes(arg, kinds) for arg in get_args(annotation))


_JSON_TYPES: dict[type, dict[str, str]] = {}


class Body(_Input):
    """Base of request bodies: a value has the JSON type the document gives it (pydantic
    would take "5" for an integer and 1 or "yes" for a boolean; a query string's or a
    console form's values are all text, so only JSON bodies are held to this)."""

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _json_type(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if not (info.context or {}).get("json"):
            return value  # a console form: every value is text, as in a query
        kinds = _JSON_TYPES.get(cls)
        if kinds is None:
            kinds = _JSON_TYPES[cls] = {
                name: ("integer" if _takes(field.annotation, (int,)) else "boolean")
                for name, field in cls.model_fields.items()
                if _takes(field.annotation, (int, bool))
                and not _takes(field.annotation, (str, float))
            }
        kind = kinds.get(info.field_name or "")
        # JSON Schema's integer is any whole number, 5.0 too; text and booleans are not.
        if kind == "integer" and (
            isinstance(value, str | bool) or (isinstance(value, float) and not value.is_integer())
        ):
            raise ValueError("must be a whole number (a JSON integer)")
        if kind == "boolean" and isinstance(value, str | int | float) and type(value) is not bool:
            raise ValueError("must be true or false")
        return value


class Query(_Input):
    """Base of query-string parameter sets."""


class Patch(Body):
    """Base of PATCH bodies. A field left out stays as it is. Null is taken, and
    documented, only for the fields in `nullable`, where it clears the value (no room, no
    limit); any other field refuses it. A body that names no field is a 400 empty_patch."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _null_only_where_it_clears(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("must not be null: leave the field out to keep its value")
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: Any, handler: pydantic.GetJsonSchemaHandler
    ) -> dict[str, Any]:
        schema = handler(core_schema)
        resolved = handler.resolve_ref_schema(schema)
        for name, prop in resolved.get("properties", {}).items():
            if name not in cls.nullable:
                _not_nullable(prop)
        # A body naming no field is refused (empty_patch): documented as such.
        resolved["minProperties"] = 1
        return schema


def _not_nullable(prop: dict[str, Any]) -> None:
    """A property's schema without its null: `X | None = None` in Python, X in the document."""
    options = [o for o in prop.pop("anyOf", [prop]) if o.get("type") != "null"]
    if len(options) == 1 and options[0] is not prop:
        prop.update(options[0])
    elif len(options) > 1:
        prop["anyOf"] = options
    if prop.get("default", 0) is None:
        del prop["default"]


# Values that are already JSON, by exact type (an enum subclassing str is not one of them).
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def jsonable(value: Any, tz: tzinfo) -> Any:
    """Dataclasses, enums, datetimes and bytes (base64) as plain JSON values; times in the
    community zone."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is datetime:
        return value.astimezone(tz).isoformat()
    if kind is bytes:  # an attachment's content (a message's check-in QR)
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Enum):
        return value.value
    if hasattr(kind, "__dataclass_fields__"):
        return {name: jsonable(getattr(value, name), tz) for name in _field_names(kind)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, tz) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    return value


def csv_cell(text: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def reply(request: web.Request, value: Any, status: int = 200) -> web.Response:
    """A JSON response of `value` rendered with `jsonable`."""
    tz = request.app[settings_key].tz
    return web.json_response(
        jsonable(value, tz), status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )


def _field_errors(exc: pydantic.ValidationError) -> tuple[dict[str, str], dict[str, Reason]]:
    fields: dict[str, str] = {}
    reasons: dict[str, Reason] = {}
    for err in exc.errors(include_url=False):
        name = ".".join(str(part) for part in err["loc"]) or "body"
        fields.setdefault(name, str(err["msg"]))
        reasons.setdefault(name, (str(err["type"]), dict(err.get("ctx") or {})))
    return fields, reasons


def validate(model: type[M], data: Any, what: str, *, json_body: bool = False) -> M:
    """`model` from parsed data, or a 400 naming every bad field; `json_body`: the data is a
    JSON body, whose values must have their documented JSON types (Body)."""
    try:
        found = model.model_validate(data, context={"json": json_body})
    except pydantic.ValidationError as exc:
        fields, reasons = _field_errors(exc)
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationError(
            f"invalid {what}: {summary}", fields=fields, reasons=reasons
        ) from None
    if isinstance(found, Patch) and not found.model_fields_set:
        # Most likely a client that lost its body on the way: say so, change nothing.
        raise ValidationError(
            f"the {what} names no field to change", code="empty_patch", fields={"body": "empty"}
        )
    return found


async def read_body(request: web.Request) -> bytes:
    """The raw body, within server.max_body_bytes (413 beyond)."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[settings_key].server.max_body_bytes
        raise PayloadTooLargeError(f"request body is larger than {limit} bytes") from None


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The POSTed form (urlencoded or multipart), within server.max_body_bytes; a 400 when
    it cannot be read (bytes not in its charset, an unknown charset, broken multipart)."""
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[settings_key].server.max_body_bytes
        raise PayloadTooLargeError(f"the form is larger than {limit} bytes") from None
    except LookupError:
        raise ValidationError("the form names a charset this server does not know") from None
    except (ValueError, HttpProcessingError) as exc:
        # aiohttp's words for a broken multipart body name no secret: they are shown.
        why = str(exc) if isinstance(exc, ValueError) else "its multipart parts are malformed"
        raise ValidationError(f"the form cannot be read: {why}", code="invalid_form") from None


async def parse_json(request: web.Request, model: type[M]) -> M:
    """The JSON object in the body, validated as `model`; an empty body (whatever its
    Content-Type, which clients send on bodiless requests too) is an empty object."""
    raw = await read_body(request)
    ctype = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    if raw.strip() and ctype.lower() not in ("application/json", ""):
        raise UnsupportedMediaError(f"expected Content-Type application/json, got {ctype}")
    try:
        data = jsontext.loads(raw) if raw.strip() else {}
    except jsontext.JsonTextError as exc:
        if exc.field is not None:  # readable JSON: name the field, as other checks do
            raise ValidationError.field(exc.field, TEXT_NOT_UNICODE) from None
        raise ValidationError(f"request body {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object", code="invalid_json")
    return validate(model, data, "request body", json_body=True)


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string validated as `model`; list fields take repeated parameters."""
    data: dict[str, Any] = {}
    # Parameters arrive under a field's alias when it has one (`from`, a Python keyword).
    fields = {info.alias or key: info for key, info in model.model_fields.items()}
    for name in request.query:
        if name in data:
            continue
        info = fields.get(name)
        values = request.query.getall(name)
        is_list = info is not None and _is_list(info.annotation)
        if not is_list and len(values) > 1:
            # One value is documented; which of several was meant is not ours to guess.
            raise ValidationError.field(name, "give this parameter once")
        data[name] = values if is_list else values[0]
    return validate(model, data, "query")


def _is_list(annotation: Any) -> bool:
    text = str(annotation)
    return text.startswith("list[") or "list[" in text
