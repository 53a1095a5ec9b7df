"""Secrets the database must keep readable (webhook signing secrets), sealed at rest with
AES-256-GCM under a key derived from the server secret file.

A stolen copy of the database alone then cannot sign webhooks that integrators trust: the
key lives in `server.secret_file`, outside the database and its backups.

Per field, the choice is:
- sealed here: values Linli must read back to use them (a webhook contact's or a
  subscription's whsec_ secret, and the rotated-out one still signing beside it);
- hashed, never sealed: values Linli only compares (API tokens, console sessions, spent
  Telegram link tokens: SHA-256), or checks (staff passwords: argon2id);
- not in the database at all: provider credentials (SMTP, SMS, Telegram bot tokens) are
  read from the config file and the environment; the console shows them, never sets them.

A sealed value is `enc1:` + base64url(nonce ‖ ciphertext ‖ tag), with a random 96-bit nonce
per value, and associated data naming its table, column and row (`contacts.signing_secret
#12`), so a ciphertext copied into another row or column does not open.

Key rotation (`linli secrets rotate --new-secret-file PATH`): with the server and workers
stopped, it opens every sealed value under the current `server.secret_file`, seals it
under PATH's key in one transaction, and the operator then points `server.secret_file` at
PATH. The old file signed the RSVP, booking, unsubscribe and Telegram links too, and they
stop verifying with it: rotation is for a secret that may have leaked, and whoever holds a
leaked file can forge those links, so they must stop. Residents get working links with
the next message Linli sends them.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import ServiceError

PREFIX: Final = "enc1:"
# HKDF's info: this key is for sealing values at rest and nothing else. Links are MACed
# with the raw secret and a purpose string of their own (secret.mac), never this key.
_PURPOSE: Final = b"linli/at-rest-secrets/v1"
_NONCE_BYTES: Final = 12


class SecretKeyError(ServiceError):
    """A sealed value does not open: the database was sealed under another secret file."""

    status = 500
    code = "secret_key_mismatch"


def is_sealed(stored: str) -> bool:
    """Whether `stored` is a value sealed by SecretBox (else plain text from before)."""
    return stored.startswith(PREFIX)


class SecretBox:
    """Seals and opens one value at a time under a key derived from the server secret."""

    def __init__(self, server_secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            server_secret
        )
        self._aead = AESGCM(key)

    def seal(self, value: str, where: str) -> str:
        """`value` encrypted for the place `where` (table.column#row) only."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), where.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, where: str) -> str:
        """The value sealed for `where`; SecretKeyError when it does not open there."""
        if not is_sealed(stored):
            raise SecretKeyError(f"{where} is not sealed", code="secret_not_sealed")
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
            value = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], where.encode())
        except (InvalidTag, ValueError, binascii.Error):
            raise SecretKeyError(
                f"{where} does not open under server.secret_file: is it the secret file this"
                " database was written with?"
            ) from None
        return value.decode()


class NoSecretBox(SecretBox):
    """The box of a store opened without a secret file: it holds no sealed value."""

    def __init__(self) -> None:
        pass

    def seal(self, value: str, where: str) -> str:
        """Refused: there is no key."""
        raise SecretKeyError(f"{where}: no server.secret_file to seal with", code="no_secret_key")

    def open(self, stored: str, where: str) -> str:
        """Refused: there is no key."""
        raise SecretKeyError(f"{where}: no server.secret_file to open with", code="no_secret_key")
