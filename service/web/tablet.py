"""Routes for [M4] tablet (filled in by its issue's work)."""

from __future__ import annotations

from .routing import Api

routes = Api()
