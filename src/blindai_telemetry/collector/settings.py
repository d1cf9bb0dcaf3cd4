"""The collector's settings, resolved once from the `serve` command line."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CollectorSettings:
    host: str = "127.0.0.1"
    port: int = 8787
    #: Operators' token: deletion by id list, the query API and the dashboard when not on loopback.
    admin_token: str | None = None
    #: When non-empty, ingestion requires `Authorization: Bearer <one of these>`.
    write_keys: tuple[str, ...] = field(default_factory=tuple)
    #: Events older than this are deleted automatically.
    retention_days: int = 365
    max_body_bytes: int = 1_000_000
    max_inflated_bytes: int = 10_000_000
    max_events_per_batch: int = 2_000
    #: Seconds a connection may take to send a request's headers (`serve`'s uvicorn protocol, `connections.py`),
    #: and then its body (answered 408): slow clients cannot hold connections open for ever.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    #: Per-install rate limit: events per second averaged over `rate_window` seconds.
    rate_limit_per_s: float = 1_000.0
    rate_window: float = 10.0
    #: Forward accepted events to Amplitude's HTTP V2 API when set (issue 7).
    forward_amplitude_key: str | None = None
    forward_amplitude_url: str = "https://api2.amplitude.com"
    #: The project's secret key, for deletions through Amplitude's User Privacy API (Basic auth).
    forward_amplitude_secret_key: str | None = None
    forward_amplitude_privacy_url: str = "https://amplitude.com"
    #: The forwarder's durable outbox (SQLite); defaults to a file beside the DuckDB store.
    forward_outbox: str | None = None
    #: Secret key for hashing model names sent in clear by old BlindAI servers and Amplitude-format senders
    #: (`formats.blindai.ModelNames`); `serve` keeps one in a file beside the store. None: a key per process.
    model_name_key: bytes | None = None

    @property
    def loopback_only(self) -> bool:
        """True when the server listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
