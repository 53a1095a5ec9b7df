"""Console pages (being written)."""

from __future__ import annotations

from .base import console_routes

routes = console_routes()
