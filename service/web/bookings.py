"""Routes for [M4] bookings (filled in by its issue's work)."""

from __future__ import annotations

from .routing import Api

routes = Api()
