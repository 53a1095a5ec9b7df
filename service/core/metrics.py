"""Prometheus metrics, kept in a registry per application so tests can build many apps."""

from __future__ import annotations

import math
from collections.abc import Mapping

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

        # Set from the database at each scrape (web/ops.py), so they hold for any worker
        # process on this database, not only one running inside this server.
        self.worker_beat_age = Gauge(
            "linli_worker_heartbeat_age_seconds",
            "Seconds since the newest delivery worker heartbeat (+Inf: none ever beat).",
            registry=self.registry,
        )
        self.outbox_waiting = Gauge(
            "linli_outbox_messages",
            "Messages waiting in the outbox, by channel and status (queued, sending).",
            ["channel", "status"],
            registry=self.registry,
        )
        self.points_issued = Gauge(
            "linli_points_issued",
            "Points the community has issued to households, net of reversals and expiry.",
            registry=self.registry,
        )
        self.points_redeemed = Gauge(
            "linli_points_redeemed",
            "Points households have spent at the points store, net of reversals.",
            registry=self.registry,
        )
        self.oldest_due_age = Gauge(
            "linli_outbox_oldest_due_age_seconds",
            "Seconds the oldest due, unclaimed message has waited, by channel (0: none due).",
            ["channel"],
            registry=self.registry,
        )

    def set_outbox(
        self,
        beat_age_s: float | None,
        waiting: Mapping[tuple[str, str], int],
        oldest_due_age_s: Mapping[str, float],
    ) -> None:
        """The delivery figures as read at this scrape."""
        self.worker_beat_age.set(math.inf if beat_age_s is None else beat_age_s)
        for (channel, status), n in waiting.items():
            self.outbox_waiting.labels(channel=channel, status=status).set(n)
        for channel, age in oldest_due_age_s.items():
            self.oldest_due_age.labels(channel=channel).set(age)

    def render(self) -> bytes:
        """Everything in Prometheus text exposition format."""
        return generate_latest(self.registry)
