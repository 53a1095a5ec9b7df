"""The server's own secret, kept in a file outside the database, and the signed tokens
derived from it: a copy of the database alone can neither forge nor recover a link."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Final

SECRET_BYTES: Final = 32
# 16 bytes of MAC: 128 bits, the least a link token may carry.
_MAC_BYTES: Final = 16
_PART: Final = re.compile(r"[0-9a-z]{1,13}")


def load_or_create(path: str | Path) -> bytes:
    """The secret in `path`, created (mode 0600) with 256 random bits if missing."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = secrets.token_hex(SECRET_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return load_or_create(path)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text + "\n")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path}: not a hex secret") from None
    if len(key) < 16:
        raise ValueError(f"{path}: secret shorter than 128 bits")
    return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@functools.lru_cache(maxsize=1024)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of `data`, from a copy of an HMAC already keyed with `key`."""
    # A copy skips keying and OpenSSL's look-up of the digest by name, which every new
    # HMAC makes: in a busy server that look-up cost several times the hashing of a
    # webhook body (a few keys sign everything: the server's, each endpoint's).
    h = _keyed(key).copy()
    h.update(data)
    return h.digest()


def mac(key: bytes, purpose: str, value: str, size: int = _MAC_BYTES) -> str:
    """An HMAC-SHA256 of `value` for one purpose only, URL-safe, `size` bytes long."""
    return _b64(hmac_sha256(key, f"{purpose}\x00{value}".encode())[:size])


def sign_ids(key: bytes, purpose: str, *idents: int) -> str:
    """A token naming rows `idents` for `purpose`: the ids in base 36 joined by dots, a
    dash, then a 128-bit MAC. Deterministic, so every message about the same rows
    carries the same link."""
    head = ".".join(base36(ident) for ident in idents)
    return f"{head}-{mac(key, purpose, head)}"


def verify_ids(key: bytes, purpose: str, token: str, count: int) -> tuple[int, ...] | None:
    """The `count` ids a token from `sign_ids` names, or None when malformed or forged."""
    head, dash, tail = token.partition("-")
    parts = head.split(".")
    if not dash or len(parts) != count or not tail.isascii():
        return None
    values = tuple(v for v in map(read_id, parts) if v is not None)
    if len(values) != count:
        return None
    if not hmac.compare_digest(tail.encode(), mac(key, purpose, head).encode()):
        return None
    return values


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of two texts, whatever characters `given` holds."""
    # Header and form bytes that are not UTF-8 reach us as surrogates, and compare_digest
    # refuses a str that is not ASCII: compare the bytes, surrogates passed through.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def read_id(part: str) -> int | None:
    """A row id as `base36` wrote it (1 to 2**63 - 1, what SQLite can hold), or None."""
    if not _PART.fullmatch(part):
        return None
    value = int(part, 36)
    return value if 0 < value < 2**63 else None


def base36(value: int) -> str:
    """`value` (>= 0) in base 36, lowercase."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out
