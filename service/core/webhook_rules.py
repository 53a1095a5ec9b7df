"""The Standard Webhooks v1 rules for signing secrets and signatures: what a secret looks
like, how a fresh one is made, and how a body is signed and checked. Neutral ground: the
webhook channel signs with them, and residents and subscriptions make and check secrets
with them, without the domain importing channels/."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets as _random
from collections.abc import Mapping, Sequence
from typing import Final

from .secret import hmac_sha256

SECRET_PREFIX: Final = "whsec_"
# The spec asks for 24–64 random bytes; we generate 32.
_SECRET_BYTES: Final = 32
_MIN_SECRET_BYTES: Final = 24
_MAX_SECRET_BYTES: Final = 64


def new_secret() -> str:
    """A fresh signing secret: whsec_ and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(_SECRET_BYTES)).decode()


@functools.lru_cache(maxsize=1024)
def _key(secret: str) -> bytes:
    # Cached: every message to an endpoint checks and signs with the same secret.
    # Like the reference libraries, accept a secret pasted without its prefix.
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw, validate=True)


@functools.lru_cache(maxsize=1024)
def valid_secrets(secrets: tuple[str, ...]) -> bool:
    """True if every one of `secrets` is valid (cached: a send's every message to an
    endpoint carries the same secrets)."""
    return all(is_valid_secret(secret) for secret in secrets)


def is_valid_secret(s: str) -> bool:
    """True if `s` is whsec_ followed by base64 of 24 to 64 bytes."""
    if not s.startswith(SECRET_PREFIX):
        return False
    try:
        key = _key(s)
    except (binascii.Error, ValueError):
        return False
    return _MIN_SECRET_BYTES <= len(key) <= _MAX_SECRET_BYTES


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, "v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.' + body>"."""
    digest = hmac_sha256(_key(secret), f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value: one signature per secret, space-separated (rotation)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # A plain dict is case-sensitive; HTTP header names are not.
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def verify(
    secret_or_secrets: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance_s: float = 300,
) -> bool:
    """True if any v1 signature in `headers` matches any secret and the timestamp is
    within `tolerance_s` of `now`; comparisons run in constant time."""
    secrets = [secret_or_secrets] if isinstance(secret_or_secrets, str) else secret_or_secrets
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not stamp or not signatures or not stamp.isascii() or not stamp.isdigit():
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_s:
        return False
    expected: list[bytes] = []
    for secret in secrets:
        try:
            expected.append(sign(secret, msg_id, timestamp, body).encode())
        except (binascii.Error, ValueError):
            continue
    matched = False
    for entry in signatures.split():
        if not entry.startswith("v1,"):
            continue
        for candidate in expected:
            # Keep going after a match so timing does not tell which entry matched.
            matched |= hmac.compare_digest(entry.encode("utf-8", "surrogatepass"), candidate)
    return matched
