"""All SQL lives in this package; functions take a `Db` or `Tx` and return frozen dataclasses."""

from __future__ import annotations

from .core import Db, Row, Tx
from .engine import Store, migrations
from .files import backup

__all__ = ["Db", "Row", "Store", "Tx", "backup", "migrations"]
