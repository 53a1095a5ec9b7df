"""Query parameters shared by list routes."""

from __future__ import annotations

from pydantic import Field

from .jsonio import MAX_ID, Query


class PageQuery(Query):
    """limit and offset, for every list."""

    limit: int = Field(50, ge=1, le=500, description="Most items to return (1-500)")
    offset: int = Field(0, ge=0, le=MAX_ID, description="Items to skip")
