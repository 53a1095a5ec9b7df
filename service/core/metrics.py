"""Prometheus metrics, kept in a registry per application so tests can build many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The process's counters, rendered in Prometheus text format at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "linli_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "linli_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.schema_version = Gauge(
            "linli_schema_version",
            "The database schema version (PRAGMA user_version).",
            registry=self.registry,
        )

        self.deliveries = Counter(
            "linli_delivery_attempts",
            "Delivery attempts by channel and outcome (sent, delivered, temporary, permanent).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.send_seconds = Histogram(
            "linli_delivery_send_seconds",
            "Time a channel took to take a message, by channel.",
            ["channel"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """Everything in Prometheus text exposition format."""
        return generate_latest(self.registry)
