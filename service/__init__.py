"""Linli (邻里): notifications, RSVPs and check-ins for a residential community."""

from __future__ import annotations

__version__ = "0.1.0"
