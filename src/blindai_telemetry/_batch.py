"""One batch on the worker: what it carries, its event ids, and its native JSON made in slices.

The worker shares the GIL with the host app. A thread that wants the GIL back waits for the holder to let go,
and a busy Python thread lets go only every `sys.getswitchinterval()` (5 ms), a C call such as `json.dumps`
of a whole batch not even then. Building and serialising 500 events in one go therefore added up to a few
milliseconds to whichever request arrived meanwhile: the p99 of the reference server's `run_model` rose by
tens of percent. So the worker does this work in slices of `SLICE` events and, once `PAUSE_EVERY` seconds of
work have gone by, lets go of the GIL (`Pacer.pause`) for long enough that a waiting request thread takes it.

The context (install id, versions, platform: the same for every event of a process) is serialised once per
process and spliced into each event's JSON, rather than serialised again for every event; so are a client's
facts (the `client_*` properties a server attaches for the client that called it), once per client.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blindai_telemetry._transport import dumps

if TYPE_CHECKING:
    from blindai_telemetry._filter import ClientFacts

#: Events built between two checks of the pacer.
SLICE = 8
#: Events serialised by one `json.dumps` (a C call that keeps the GIL throughout): 32 take ~0.1 ms, a fifth of
#: `PAUSE_EVERY`, and cost ~0.4 µs an event less than slices of 8 (each call sets up an encoder).
ENCODE_SLICE = 32
#: How long each pause lets go of the GIL. `time.sleep(0)` is not enough: the worker takes the GIL back
#: before a waiting thread has woken up, and that thread then waits out the full switch interval.
PAUSE = 0.0001
#: Seconds of work between two pauses. A pause costs ~20 µs of CPU on the 2-core VM (the sleep's syscall and
#: the GIL's hand-over): pausing every 8 events (~80 µs) cost 5-7 µs per event, a third of the worker's CPU.
#: Every 0.5 ms costs a fifth of that, and a request waits at most ~0.5 ms for the GIL (10× under the switch
#: interval).
PAUSE_EVERY = 0.0005
#: The key standing for the context in an event's dict, replaced by the context's JSON on the wire. It cannot
#: collide with a property (properties are nested under "properties"), nor its JSON with a value (a `"` inside a
#: string is escaped).
CONTEXT_KEY = "\x00context"
_CONTEXT_JSON = b',"\\u0000context":0}'
#: The key standing for a client's facts, last in an event's properties, replaced on the wire by the members of
#: the facts' JSON (the comma before it stays, the closing brace after it too). Only properties the catalogue
#: names are ever keys; a value holding it is a string, which ends in `"` followed by `,` `}` or `]`, never `:`.
CLIENT_KEY = "\x00client"
_CLIENT_JSON = b'"\\u0000client":0'


@dataclass
class Batch:
    #: Each event's own fields; the process context is in `context` (`CONTEXT_KEY` marks where it goes), except
    #: for a batch read back from the spool, whose events are complete (`context` None).
    events: list[dict[str, Any]]
    dropped: dict[str, int]
    #: How many of this process's queued items it stands for (0 for a batch of an earlier process).
    items: int = 0
    spool_path: Path | None = None
    context: Context | None = None
    #: Per event, the client's facts whose JSON replaces its properties' `CLIENT_KEY` (None: none to splice).
    clients: list[ClientFacts | None] | None = None
    _complete: list[dict[str, Any]] | None = field(default=None, repr=False)

    def complete_events(self) -> list[dict[str, Any]]:
        """The events as they go on the wire, context included (made once, for transports other than ours)."""
        if self.context is None:
            return self.events
        if self._complete is None:
            context = self.context.fields
            clients = self.clients or [None] * len(self.events)
            self._complete = [_complete(e, facts, context) for e, facts in zip(self.events, clients, strict=True)]
        return self._complete

    def payload(self) -> dict[str, Any]:
        return {"schema_version": 1, "sent_at": int(time.time() * 1000), "dropped": self.dropped,
                "events": self.complete_events()}

    def split(self) -> tuple[Batch, Batch]:
        """Two halves (for a 413); the first carries the drop counts."""
        half = len(self.events) // 2
        items = self.items * half // len(self.events)
        clients = self.clients
        return (Batch(self.events[:half], self.dropped, items, None, self.context, clients and clients[:half]),
                Batch(self.events[half:], {}, self.items - items, None, self.context, clients and clients[half:]))


def _complete(event: dict[str, Any], facts: ClientFacts | None, context: dict[str, Any]) -> dict[str, Any]:
    """One event as it goes on the wire: its markers replaced by the client's facts and the context."""
    complete = {k: v for k, v in event.items() if k != CONTEXT_KEY}
    if facts is not None:
        properties = {k: v for k, v in event["properties"].items() if k != CLIENT_KEY}
        complete["properties"] = {**properties, **facts.properties}
    return {**complete, **context}


class Context:
    """The fields every event of this process carries, and their JSON, made once."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self.json = b""
        self.update()

    def update(self, **fields: Any) -> None:
        """Change fields (a forked child's session id) and serialise the context again."""
        self.fields.update(fields)
        self.json = b"," + dumps(self.fields)[1:]  # `,"install_id":…}`: closes the event it is spliced into


class Pacer:
    """Lets the host's threads have the GIL now and then while the worker is busy (see the module docstring)."""

    def __init__(self) -> None:
        self.enabled = True  # off while shutting down: the host is only waiting for us then
        self._last = time.perf_counter()

    def __call__(self) -> None:
        now = time.perf_counter()
        if now - self._last >= PAUSE_EVERY:
            if self.enabled:
                time.sleep(PAUSE)
            self._last = time.perf_counter()

    def idle(self) -> None:
        """The worker waited: the next slice starts a fresh interval."""
        self._last = time.perf_counter()


def event_ids(count: int) -> list[str]:
    """`count` random UUID4 strings, from one call to the OS's random source (a quarter of what
    `str(uuid.uuid4())` costs each)."""
    hexes = os.urandom(16 * count).hex()
    ids = []
    for i in range(0, 32 * count, 32):
        # RFC 4122: version nibble 4; variant bits 10xx, keeping the two random bits below them.
        variant = "89ab"[int(hexes[i + 16], 16) & 3]
        ids.append(f"{hexes[i:i + 8]}-{hexes[i + 8:i + 12]}-4{hexes[i + 13:i + 16]}-"
                   f"{variant}{hexes[i + 17:i + 20]}-{hexes[i + 20:i + 32]}")
    return ids


def encode_native(batch: Batch, pacer: Callable[[], None] | None = None) -> bytes:
    """The native `/v1/batch` JSON of `batch` — byte for byte `dumps(batch.payload())` but for the order of each
    event's keys — serialised in slices with the pacer consulted between them."""
    head = dumps({"schema_version": 1, "sent_at": int(time.time() * 1000), "dropped": batch.dropped})
    parts = [head[:-1], b',"events":[']
    events = batch.events
    context = batch.context.json if batch.context is not None else None
    clients = batch.clients
    for start in range(0, len(events), ENCODE_SLICE):
        if start:
            if pacer is not None:
                pacer()
            parts.append(b",")
        chunk = dumps(events[start:start + ENCODE_SLICE])[1:-1]
        if context is not None:
            chunk = chunk.replace(_CONTEXT_JSON, context)
        if clients is not None:
            chunk = _splice_clients(chunk, clients[start:start + ENCODE_SLICE])
        parts.append(chunk)
    parts.append(b"]}")
    return b"".join(parts)


def _splice_clients(chunk: bytes, clients: list[ClientFacts | None]) -> bytes:
    """`chunk` with each `CLIENT_KEY` marker replaced by its event's client facts, in order."""
    members = [facts.json for facts in clients if facts is not None]
    if not members:
        return chunk
    pieces = chunk.split(_CLIENT_JSON)
    if len(pieces) != len(members) + 1:  # cannot happen (see CLIENT_KEY): better no batch than a wrong one
        raise ValueError(f"{len(pieces) - 1} client markers for {len(members)} clients")
    spliced = [b""] * (2 * len(members) + 1)
    spliced[::2] = pieces
    spliced[1::2] = members
    return b"".join(spliced)
