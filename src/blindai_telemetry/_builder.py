"""`EventBuilder`: queued items become events on the worker — event id, time, privacy filter, context and client
markers."""

from __future__ import annotations

from typing import Any

from blindai_telemetry import _context
from blindai_telemetry._batch import CLIENT_KEY, CONTEXT_KEY, SLICE, Context, Pacer, event_ids
from blindai_telemetry._filter import ClientFacts, PrivacyFilter
from blindai_telemetry._ledger import DropLedger
from blindai_telemetry._queue import Item


class EventBuilder:
    def __init__(self, context: Context, privacy_filter: PrivacyFilter, ledger: DropLedger, pacer: Pacer) -> None:
        self.context = context
        self._filter = privacy_filter
        self._ledger = ledger
        self._pacer = pacer

    def build(self, items: list[Item]) -> tuple[list[dict[str, Any]], list[ClientFacts | None]]:
        """The events of `items` that may leave the process, and each one's client facts to splice (see
        `Batch.clients`); what the filter drops goes to the ledger."""
        events: list[dict[str, Any]] = []
        clients: list[ClientFacts | None] = []
        start = _context.PROCESS_START
        ids = event_ids(len(items))  # before the first attempt: a retry sends the same ids, never counts twice
        privacy_filter, pacer = self._filter, self._pacer
        for i, (name, properties, client, t) in enumerate(items):
            if i and not i % SLICE:
                pacer()
            try:
                kept = privacy_filter.split(name, properties, client)
            except Exception:  # noqa: BLE001 - seam: a hostile value (raising __getattr__, …) loses its event only
                self._ledger.lost("invalid_value")
                continue
            if kept is None:
                continue
            props, facts = kept
            if facts is not None:
                props[CLIENT_KEY] = 0
            clients.append(facts)
            events.append({"event_id": ids[i], "event": name, "time": int(t * 1000),
                           "uptime_s": round(max(0.0, t - start), 3), "properties": props, CONTEXT_KEY: 0})
        drops = privacy_filter.drops
        if drops:
            self._ledger.lost_all(drops)
            drops.clear()
        return events, clients
