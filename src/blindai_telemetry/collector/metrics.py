"""The collector's Prometheus metrics (`GET /metrics`), in a registry of its own per app.

A registry per app (not prometheus_client's global one) lets several collectors live in one process, as the
tests do, without their counts mixing. Labels come from fixed lists only, so that no sender can grow them.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from blindai_telemetry.collector.forward import AmplitudeForwarder

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accepted = Counter(
            "blindai_collector_events_accepted", "Events newly stored", ["source"], registry=r)
        self.refused = Counter(
            "blindai_collector_requests_refused", "Requests refused, by reason", ["reason"], registry=r)
        self.deduplicated = Counter(
            "blindai_collector_events_deduplicated", "Events ignored because their id was already stored",
            registry=r)
        self.dropped_fields = Counter(
            "blindai_collector_fields_dropped", "Fields dropped by catalogue validation", registry=r)
        self.dropped_events = Counter(
            "blindai_collector_events_dropped", "Events dropped by catalogue validation (unknown or invalid)",
            registry=r)
        self.sdk_dropped = Counter(
            "blindai_collector_sdk_dropped", "Events the SDKs report having dropped before sending", ["reason"],
            registry=r)
        self.deletions = Counter(
            "blindai_collector_deletions", "Deletion requests, by outcome", ["outcome"], registry=r)
        self.events_deleted = Counter(
            "blindai_collector_events_deleted", "Events deleted, by cause", ["cause"], registry=r)
        self.store_write_seconds = Histogram(
            "blindai_collector_store_write_seconds", "Duration of one group commit to the store",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)
        self.forward_lost = Counter(
            "blindai_collector_forward_lost", "Stored events that could not be queued for Amplitude", registry=r)
        self.pending_events = Gauge(
            "blindai_collector_pending_events", "Events waiting for the writer", registry=r)

    def watch_forwarder(self, forwarder: AmplitudeForwarder) -> None:
        """Export the Amplitude forwarder's backlog and counts, read from it at each scrape."""
        r = self.registry
        Gauge("blindai_collector_forward_outbox_events", "Events stored but not yet accepted by Amplitude",
              registry=r).set_function(forwarder.pending)
        Gauge("blindai_collector_forward_outbox_deletions", "Deleted installs not yet sent to Amplitude's Privacy API",
              registry=r).set_function(forwarder.pending_deletions)
        stats = forwarder.stats
        for name, help_text in (("forwarded", "Events Amplitude accepted"),
                                ("rejected", "Events Amplitude refused as invalid (dropped)"),
                                ("blocked", "Events of deleted installs, never forwarded"),
                                ("failures", "Failed forwarding attempts (network, 5xx, 429), retried"),
                                ("deletions_sent", "Installs whose deletion Amplitude's Privacy API accepted")):
            # Counts since the process started, read from the forwarder (which owns them) at each scrape.
            Gauge(f"blindai_collector_forward_{name}", help_text + ", since start",
                  registry=r).set_function(functools.partial(_read, stats, name))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _read(stats: Any, name: str) -> float:
    return float(getattr(stats, name))
