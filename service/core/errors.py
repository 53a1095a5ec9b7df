"""Coded errors raised by the domain and mapped to HTTP by one middleware.

    ServiceError                 status, code, message, fields
    ├── ValidationError          400  a field or the body is malformed
    ├── AuthenticationError      401  no token or an unknown one
    ├── PermissionDeniedError    403  the token's role may not do this
    ├── NotFoundError            404  no such object
    │   └── EventNotFoundError        no event with this id
    ├── ConflictError            409  the object's state forbids the change
    ├── PayloadTooLargeError     413  the body exceeds server.max_body_bytes
    ├── UnsupportedMediaError    415  the body is not in the expected format
    └── TooManyRequestsError     429  too many failed attempts; try again later

    SettingsError                     a bad configuration value (not HTTP: exit code 2)

One code means one cause: clients and tests branch on `code`, people read `message`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A field's refusal as a kind and its values: ("less_than_equal", {"le": 100}).
Reason = tuple[str, Mapping[str, Any]]


class ServiceError(Exception):
    """Base of every error a client may see; carries an HTTP status and a stable code."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: Mapping[str, str] | None = None,
        reasons: Mapping[str, Reason] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields: dict[str, str] = dict(fields or {})
        # Why each field was refused, as a kind and its values (pydantic's error type and
        # context, e.g. ("greater_than_equal", {"ge": 1})), so a page can say it in its
        # own language; `fields` keeps the API's English words.
        self.reasons: dict[str, Reason] = dict(reasons or {})

    def as_json(self) -> dict[str, object]:
        """The `{"error": {...}}` body every API error uses."""
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


class ValidationError(ServiceError):
    """The request or a field in it is malformed."""

    status = 400
    code = "invalid"

    @classmethod
    def field(cls, name: str, problem: str, *, code: str = "invalid") -> ValidationError:
        """One bad field, named in both the message and `fields`."""
        return cls(f"{name}: {problem}", code=code, fields={name: problem})


class AuthenticationError(ServiceError):
    """No credentials, or credentials that match nothing."""

    status = 401
    code = "unauthenticated"


class PermissionDeniedError(ServiceError):
    """Valid credentials whose role or scope does not allow the action."""

    status = 403
    code = "forbidden"


class NotFoundError(ServiceError):
    """The addressed object does not exist (or is not visible to the caller)."""

    status = 404
    code = "not_found"


class EventNotFoundError(NotFoundError):
    """No event with this id: raised alike by the domain and the delivery log."""

    code = "event_not_found"

    def __init__(self, event_id: int) -> None:
        super().__init__(f"no event {event_id}")


class ConflictError(ServiceError):
    """The object's current state forbids the change (an illegal transition, a duplicate)."""

    status = 409
    code = "conflict"


class PayloadTooLargeError(ServiceError):
    """The request body is larger than the configured limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaError(ServiceError):
    """The request body's Content-Type is not one this route reads."""

    status = 415
    code = "unsupported_media_type"


class TooManyRequestsError(ServiceError):
    """Too many attempts (failed sign-ins) in a short time; `retry_after_s` says when to retry."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class SettingsError(Exception):
    """A configuration value is missing, unknown or invalid; the message names the key."""


class NotReadyError(ServiceError):
    """The process is still starting."""

    status = 503
    code = "not_ready"
