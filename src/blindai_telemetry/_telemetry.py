"""`Telemetry`, the object a host app holds: settings resolved once, then `track()` on the hot path.

The settings, opt-out included, are resolved before anything else (`_settings.Settings.resolve`): a disabled
`Telemetry(...)` is a `_DisabledTelemetry`, a real no-op that starts no thread, opens no socket and writes no file.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import secrets
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from blindai_telemetry import _config, _context, _delivery
from blindai_telemetry._batch import Context, Pacer
from blindai_telemetry._builder import EventBuilder
from blindai_telemetry._context import ClientInfo
from blindai_telemetry._filter import PrivacyFilter
from blindai_telemetry._ledger import DropLedger
from blindai_telemetry._notice import show_notice_once
from blindai_telemetry._queue import BoundedQueue
from blindai_telemetry._records import LocalRecords
from blindai_telemetry._settings import Settings
from blindai_telemetry._spool import DEFAULT_MAX_BYTES, Spool
from blindai_telemetry._transport import Transport
from blindai_telemetry._worker import Worker, logger
from blindai_telemetry.privacy import Scrubber

#: Context fields whose text comes from the host app or the platform, scrubbed like event properties.
_FREE_TEXT_CONTEXT = ("app", "app_version", "os_name", "os_release", "arch", "python_version")


def _hash_key(directory: Path) -> str:
    """The install's secret for hashing model names; made on first use, in memory when it cannot be saved."""
    cfg = _config.load_user_config(directory)
    if cfg.hash_key:
        return cfg.hash_key
    cfg.hash_key = secrets.token_hex(32)
    _config.save_user_config(cfg, directory)
    return cfg.hash_key


class Telemetry:
    """Anonymous usage telemetry for one program; `blindai-telemetry catalogue` lists what it may send.

    `track()` never raises and never blocks; `flush(timeout)` waits for delivery; `shutdown(timeout)` runs
    at exit and returns within its timeout whatever the endpoint does.

    Where batches go (first that applies): `BLINDAI_TELEMETRY_DEBUG=1` (printed, never sent) > `transport=`
    > `BLINDAI_TELEMETRY_ENDPOINT` > `amplitude_api_key=` (Amplitude HTTP V2) > `endpoint=`. With none of
    them, or when an opt-out applies (`BLINDAI_DISABLE_TELEMETRY`, `DO_NOT_TRACK`, `blindai-telemetry
    disable`, `enabled=False`), the object is a no-op and `install_id` is None.

    - `mode`: servers only, one of catalogue.MODES (`dcsv3` when BLINDAI_AZURE_DCSV3_PATCH is set).
    - `write_key`: sent as `Authorization: Bearer` to a collector started with `--write-key`.
    - `flush_interval`: seconds between deliveries (else BLINDAI_TELEMETRY_FLUSH_INTERVAL, else 2).
    - `max_queue_size`: events held while waiting; past it the oldest are dropped and counted.
    - `max_batch_size`: events per request (a full batch is sent without waiting for the interval).
    - `shutdown_timeout`: bound of the flush at exit, seconds.
    - `model_names`: `hashed` (default: public architectures as they are, others as a keyed hash), `raw`
      (scrubbed) or `omitted`.
    - `spool`: keep the events not delivered at exit (or during an outage) on disk, and send them with the
      next process of this install before its own (default True; never in debug mode).
    - `spool_dir`: where (default: `spool` in the user's state directory, or in `config_dir` when it was given).
    - `spool_max_bytes`: the spool's bound (default 10 MB, ~15,000 events); past it the oldest are dropped, and
      counted (`spool_full`).
    - `config_dir`: where the install id, settings and transparency log live (else the user's config dir).
    """

    _worker: Worker
    _settings: Settings
    #: `Telemetry(...)`'s parameters are __init__'s: what `inspect.signature(Telemetry)` (help(), IDEs that run
    #: code) shows rather than `__new__`'s `(*args, **kwargs)`, and how __new__ names the arguments it resolves.
    __signature__: ClassVar[inspect.Signature]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__signature__ = _init_signature(cls)

    def __new__(cls, *args: Any, **kwargs: Any) -> Telemetry:
        # The arguments are resolved here, once, so that a disabled process goes no further.
        if issubclass(cls, _DisabledTelemetry):
            return super().__new__(cls)
        # By name, positional ones too; a wrong call is a TypeError, as for any class. Keywords are merged in as
        # given, for a subclass whose __init__ passes them on through **kwargs.
        arguments = {**cls.__signature__.bind(*args, **kwargs).arguments, **kwargs}
        settings = Settings.resolve(arguments, os.environ)
        if settings.decision.enabled:  # a disabled process says nothing either
            for problem in settings.problems:
                logger.warning("blindai-telemetry: %s", problem)
        if settings.disabled_because is not None:  # subclasses of Telemetry honour the opt-out too
            disabled = super().__new__(_DisabledTelemetry)
            disabled.__init__(*args, **kwargs)  # type: ignore[misc]  # not called for a subclass's cls
            return disabled
        telemetry = super().__new__(cls)
        telemetry._settings = settings
        return telemetry

    def __init__(self, app: str, app_version: str, endpoint: str | None = None, mode: str | None = None, *,
                 enabled: bool | None = None, transport: Transport | None = None,
                 amplitude_api_key: str | None = None, write_key: str | None = None,
                 flush_interval: float | None = None, max_queue_size: int = 10_000, max_batch_size: int = 500,
                 shutdown_timeout: float = 1.0, model_names: str = "hashed",
                 spool_dir: str | os.PathLike[str] | None = None,
                 config_dir: str | os.PathLike[str] | None = None, spool: bool = True,
                 spool_max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        settings = self._settings  # endpoint, mode, enabled, … as resolved by __new__ from these same arguments
        self.app = app
        self.app_version = app_version
        self.shutdown_timeout = shutdown_timeout
        self.config_dir = settings.config_dir
        self.endpoint = settings.endpoint
        self.debug = settings.destination == "debug"
        self.flush_interval = settings.flush_interval
        self.transport = settings.make_transport()
        self._install_id, self.install_id_persisted = _config.get_or_create_install_id(self.config_dir)
        self.is_ci = settings.is_ci
        self.mode = settings.mode
        model_names = settings.model_names
        scrubber = Scrubber()
        context = _context.static_context(
            install_id=self._install_id, session_id=str(uuid.uuid4()), app=str(app),
            app_version=str(app_version), mode=self.mode, is_ci=self.is_ci)
        for name in _FREE_TEXT_CONTEXT:  # platform facts too: a custom kernel's release can name its host
            if isinstance(context.get(name), str):
                context[name] = scrubber(context[name])
        privacy_filter = PrivacyFilter(Counter(), model_names, _hash_key(self.config_dir), scrubber)
        keep = spool and not self.debug  # debug mode prints and never sends: nothing to keep, nothing to replay
        state_dir = _delivery.state_dir(self.config_dir)
        where = Path(spool_dir) if spool_dir is not None else state_dir / _delivery.SPOOL_DIR
        self._worker = _build_worker(
            self.transport, context, privacy_filter, max_queue_size=max_queue_size, max_batch_size=max_batch_size,
            flush_interval=self.flush_interval, config_dir=self.config_dir, is_ci=self.is_ci,
            spool=Spool(where, spool_max_bytes) if keep else None,
            delivery=_delivery.DeliveryLog(state_dir, self.transport.endpoint))
        self._submit = self._worker.queue.submit
        self._ledger = self._worker.ledger
        self._worker.start()
        # Bound to the worker, which its thread keeps alive: events queued through a Telemetry the host dropped
        # are still flushed at exit. Weak, so that a stopped worker can be freed.
        ref = weakref.ref(self._worker)
        atexit.register(_shutdown_at_exit, ref, shutdown_timeout)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    @property
    def install_id(self) -> str | None:
        return self._install_id

    @property
    def enabled(self) -> bool:
        return True

    @property
    def session_id(self) -> str | None:
        """Random per process start (a forked child gets its own)."""
        return str(self._worker.builder.context.fields["session_id"])

    def track(self, event: str, /, *, client: ClientInfo | Mapping[str, Any] | None = None,
              **properties: Any) -> None:
        """Queue one event. Never raises, never blocks: the filtering and sending happen on the worker.
        When the queue is full the oldest event makes room, and is counted."""
        try:
            self._submit((event, properties, client, time.time()))
        except Exception:  # noqa: BLE001 - seam: telemetry must never break the host app
            with contextlib.suppress(Exception):  # ... and the event it lost is counted all the same
                self._ledger.lost("track_error")

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to `timeout` seconds for everything queued so far to be delivered (or definitively
        handled: refused or filtered out). True when it was."""
        try:
            return self._worker.flush(timeout)
        except Exception:  # noqa: BLE001 - seam
            return False

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush what can be flushed within `timeout` (default `shutdown_timeout`), then stop."""
        try:
            return self._worker.shutdown(self.shutdown_timeout if timeout is None else timeout)
        except Exception:  # noqa: BLE001 - seam
            return False

    def client_info(self) -> ClientInfo:
        """This program's anonymous facts, for a client to send with its requests (`track(client=...)`)."""
        facts = _context.platform_facts()
        return ClientInfo(install_id=self._install_id, app_version=self.app_version,
                          os_name=facts["os_name"], os_release=facts["os_release"], arch=facts["arch"],
                          user_agent=self.app)

    def stats(self) -> dict[str, Any]:
        """Counters for status and tests: queued, sent, dropped by reason, …"""
        return self._worker.stats()

    def __repr__(self) -> str:
        return f"<Telemetry app={self.app!r} transport={self.transport.name} install_id={self._install_id}>"


def _init_signature(cls: type[Telemetry]) -> inspect.Signature:
    """The signature of `cls(...)`: its __init__'s without `self`."""
    signature = inspect.signature(cls.__init__)
    return signature.replace(parameters=list(signature.parameters.values())[1:],
                             return_annotation=inspect.Signature.empty)


Telemetry.__signature__ = _init_signature(Telemetry)


class _DisabledTelemetry(Telemetry):
    """What `Telemetry(...)` returns when telemetry is off: the same surface, doing nothing at all."""

    def __init__(self, app: str = "", app_version: str = "", *args: Any, **kwargs: Any) -> None:
        self.app = app
        self.app_version = app_version

    @property
    def install_id(self) -> str | None:
        return None

    @property
    def enabled(self) -> bool:
        return False

    @property
    def session_id(self) -> str | None:
        return None

    def track(self, event: str, /, *, client: ClientInfo | Mapping[str, Any] | None = None,
              **properties: Any) -> None:
        return None

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def shutdown(self, timeout: float | None = None) -> bool:
        return True

    def client_info(self) -> ClientInfo:
        return ClientInfo()

    def stats(self) -> dict[str, Any]:
        return {"queued": 0, "enqueued": 0, "handled": 0, "sent": 0, "batches": 0, "pending_batches": 0,
                "consecutive_failures": 0, "dropped": {}, "cycles": 0, "running": False}

    def __repr__(self) -> str:
        return f"<Telemetry app={self.app!r} disabled>"


def _build_worker(transport: Transport, context: dict[str, Any], privacy_filter: PrivacyFilter, *,
                  max_queue_size: int, max_batch_size: int, flush_interval: float, config_dir: Path, is_ci: bool,
                  spool: Spool | None, delivery: _delivery.DeliveryLog) -> Worker:
    """The pipeline behind `track()`, part by part (see `_worker`)."""
    ledger = DropLedger()
    pacer = Pacer()
    builder = EventBuilder(Context(context), privacy_filter, ledger, pacer)
    return Worker(BoundedQueue(max_queue_size, max_batch_size, ledger), ledger, builder, spool, transport,
                  pacer=pacer, records=LocalRecords(config_dir), delivery=delivery, flush_interval=flush_interval,
                  notice=lambda: show_notice_once(config_dir, is_ci=is_ci))


def _shutdown_at_exit(ref: weakref.ref[Worker], timeout: float) -> None:
    worker = ref()
    if worker is not None:
        with contextlib.suppress(Exception):  # seam: nothing may spoil the host's exit
            worker.shutdown(timeout)


def _after_fork(ref: weakref.ref[Worker]) -> None:
    worker = ref()
    if worker is None or worker.stopping:  # shut down in the parent: stays down in the child
        return
    with contextlib.suppress(Exception):  # seam: a failure here must not kill the child process
        worker.after_fork_in_child()
