"""Prometheus metrics of one service process, in a registry of its own."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Every metric both services expose; service-specific ones live beside them."""

    def __init__(self) -> None:
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests answered", ["method", "route", "status"],
            registry=r)
        self.http_latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r)
        self.events_published = Counter(
            "outbox_events_published_total", "Events confirmed by the broker", registry=r)
        self.events_unroutable = Counter(
            "outbox_events_unroutable_total", "Events no queue was bound for", ["type"],
            registry=r)
        self.outbox_publish_failures = Counter(
            "outbox_publish_failures_total",
            "Publishes of outbox rows that were returned or failed (the row stays unsent)",
            ["reason"], registry=r)
        self.outbox_backlog = Gauge(
            "outbox_backlog", "Events written but not yet confirmed by the broker", registry=r)
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_unsent_age_seconds", "Age of the oldest unsent event", registry=r)
        self.events_consumed = Counter(
            "events_consumed_total", "Events consumed by outcome", ["queue", "outcome"],
            registry=r)
        self.consumer_lag = Gauge(
            "consumer_lag_seconds", "Age of the last event handled when it was applied",
            ["queue"], registry=r)
        # Bidding service.
        self.rounds_by_status = Gauge(
            "rounds", "Rounds by status", ["status"], registry=r)
        self.bids = Counter(
            "bids_total", "Bid submissions by outcome", ["outcome"], registry=r)
        self.timer_lateness = Histogram(
            "round_timer_lateness_seconds", "Time from a round's deadline to its handling",
            ["action"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30),
            registry=r)
        self.timer_failures = Counter(
            "round_timer_failures_total",
            "Closes and expiries that failed (retried with backoff), by action and error code",
            ["action", "error"], registry=r)
        self.rounds_close_failing = Gauge(
            "rounds_close_failing", "Rounds past their close whose close has failed so far",
            registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count a request and its latency; the labelled children are looked up once per
        (method, route, status), not on every request (`labels()` validates and locks)."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.http_requests.labels(method, route, str(status)),
                        self.http_latency.labels(method, route))
            if len(self._request_children) < 1000:  # bounded, whatever methods arrive
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)
