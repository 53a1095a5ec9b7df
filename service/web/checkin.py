"""Routes for [M4] checkin (filled in by its issue's work)."""

from __future__ import annotations

from .routing import Api

routes = Api()
