"""The collector service: receives, validates, stores, deletes and forwards telemetry (extra `collector`).

`app.create_app(settings, store)` builds it; `blindai-telemetry serve` runs it under uvicorn. What it promises
and the choices behind each promise (details in each module's docstring):

- No IP: uvicorn runs without its access log, proxy headers or server header; `access_log.RequestLog` logs
  method, path (no query), status and duration, never the client's address; nothing reads forwarding headers.
- Durable acknowledgement: requests hand validated rows to `writer.Writer`, one thread that owns the store's
  writes and commits whatever is pending as one group; a request gets its 200 only after that commit. The
  buffer is bounded (events): full → 503 + Retry-After; a store failure → 503 + Retry-After, nothing partial.
- Exactly-once effect: the store ignores event ids it already holds, across restarts. A response's
  `duplicates` is exact except when a batch shares a group with others and repeats events stored earlier:
  the store counts those per group, and they are attributed to the group's batches in order.
- Validation (`validate`): every row, whatever its format, is held to the catalogue; the native format is
  strict (a wrong value refuses the batch, naming it), the others drop and count what does not fit.
- Limits: 1 MB as sent, 10 MB inflated (incremental, so a gzip bomb costs at most the limit), 2,000 events,
  and a per-install token bucket (1,000 events/s over 10 s) kept per collector process.
- Deletion (`deletions`): operators delete any list; an install may delete up to 10 ids of its own (the random
  id is the capability), under one global rate limit. Deletions run on the writer thread, ordered with the
  writes; later events of a deleted install are stored (it may have re-enabled telemetry) but never forwarded.
- Retention: events older than `retention_days` are deleted at start and hourly, on the writer thread.
- Model names sent in clear (old BlindAI servers, Amplitude senders): public architecture names pass, others
  are hashed with a collector key that `serve` keeps beside the DuckDB file (stable across restarts).
- Write keys: `Authorization: Bearer`, or `api_key` on `/2/httpapi`, or `?write_key=` on `/blindai` (the old
  servers can set only a URL).
"""
