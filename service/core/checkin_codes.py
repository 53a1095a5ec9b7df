"""Check-in codes: 6 characters a resident reads out or types at the door, and their QR."""

from __future__ import annotations

import io
import secrets
import unicodedata
from typing import Final

import segno

# No look-alikes: 0/O, 1/I/L, 5/S, 2/Z and 8/B are left out, so a code read aloud or
# typed from a blurry screen has one reading. 25 ** 6 is about 244 million codes.
ALPHABET: Final = "34679ACDEFGHJKMNPQRTUVWXY"
LENGTH: Final = 6


def new_code() -> str:
    """A fresh random code (the store's primary key makes it unique; retry on a clash)."""
    # One draw from the system's randomness, spelled in base 25.
    n = secrets.randbelow(len(ALPHABET) ** LENGTH)
    digits = []
    for _ in range(LENGTH):
        n, digit = divmod(n, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(digits)


def normalise(typed: str) -> str | None:
    """The code a person typed, full-width, spaced or lower-case as it may be; None when
    it cannot be a code."""
    code = "".join(unicodedata.normalize("NFKC", typed).upper().split()).replace("-", "")
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def qr_svg(code: str) -> str:
    """The code as an inline SVG QR code (segno: pure Python, no image libraries)."""
    return str(segno.make_qr(code, error="m").svg_inline(scale=6, border=2))


def qr_png(code: str) -> bytes:
    """The code as a PNG QR code, for email (mail clients strip inline SVG)."""
    out = io.BytesIO()
    segno.make_qr(code, error="m").save(out, kind="png", scale=6, border=2)
    return out.getvalue()
