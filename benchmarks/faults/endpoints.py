"""A collector stand-in on 127.0.0.1 that misbehaves on demand, then heals: the faults of issue 8's SDK matrix.

`FaultyEndpoint(mode)` speaks just enough HTTP/1.1 over raw sockets to fail the way real networks and servers
do (refused connections, resets, half answers, silence, garbage) and to store, by `event_id`, what a real
collector would have stored — so a test can tell events delivered from events counted twice. `heal()` ends the
fault: the port starts listening, held connections are closed, delays end, a trusted certificate replaces the
untrusted one.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

#: Every fault the endpoint itself can play. (DNS and proxy faults are played by the URL and the environment.)
MODES = ("healthy", "down", "refusing", "slow", "trickle", "blackholed", "500", "429", "413", "garbage", "reset",
         "tls")
#: Mode "trickle" answers one byte at a time, this many seconds apart, until healed.
TRICKLE_INTERVAL = 0.2
#: Requests carrying more events than this are answered 413 in mode "413" (so the SDK must split).
MAX_EVENTS_413 = 20
RETRY_AFTER = 1


class FaultyEndpoint:
    def __init__(self, mode: str, *, slow_delay: float = 5.0, retry_after: int = RETRY_AFTER,
                 tls_dir: Path | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.retry_after = retry_after
        self.slow_delay = slow_delay
        self.healed = threading.Event()
        self.lock = threading.Lock()
        #: event_id -> how many times it arrived in a request the endpoint stored.
        self.arrivals: Counter[str] = Counter()
        #: The SDK's own drop counters, added up from every stored batch's `dropped`.
        self.reported_drops: Counter[str] = Counter()
        self.requests = 0
        self._held: list[socket.socket] = []
        self._closed = False
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None
        if mode == "tls":
            if tls_dir is None:
                raise ValueError("mode 'tls' needs a directory for its certificates")
            self._tls = (server_context(*make_certificate(tls_dir, "untrusted")),
                         server_context(*make_certificate(tls_dir, "trusted")))
            self.trusted_ca = tls_dir / "trusted-cert.pem"
        scheme = "https" if mode == "tls" else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        if mode != "down":  # "down": bound but not listening, so the kernel refuses every connection
            self._listener.listen(64)
        self._thread = threading.Thread(target=self._accept_loop, name="faulty-endpoint", daemon=True)
        if mode != "down":
            self._thread.start()

    # --- control ---------------------------------------------------------------------------------------
    def heal(self) -> None:
        """End the fault: from now on every request is stored and answered 200."""
        with self.lock:
            was = self.mode
            self.mode = "healthy"
            held, self._held = self._held, []
        self.healed.set()
        for conn in held:  # a black-holed client now sees the connection close, and retries
            with contextlib.suppress(OSError):
                conn.close()
        if was == "down":
            self._listener.listen(64)
            self._thread.start()

    def delivered(self) -> int:
        with self.lock:
            return len(self.arrivals)

    def duplicates(self) -> int:
        with self.lock:
            return sum(self.arrivals.values()) - len(self.arrivals)

    def close(self) -> None:
        self._closed = True
        self.healed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self.lock:
            held, self._held = self._held, []
        for conn in held:
            with contextlib.suppress(OSError):
                conn.close()

    def __enter__(self) -> FaultyEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- serving ----------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.mode == "refusing":
                _reset(conn)
                return
            if self._tls is not None:
                context = self._tls[1] if self.mode == "healthy" else self._tls[0]
                conn.settimeout(5.0)
                conn = context.wrap_socket(conn, server_side=True)  # an untrusted certificate: the client hangs up
            conn.settimeout(30.0)
            with conn.makefile("rb") as reader:
                while not self._closed:
                    request = _read_request(reader)
                    if request is None or not self._answer(conn, *request):
                        break
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _answer(self, conn: socket.socket, headers: dict[str, str], body: bytes) -> bool:
        """Play the current mode for one request; False when the connection must end."""
        with self.lock:
            self.requests += 1
            mode = self.mode
            if mode == "blackholed":
                self._held.append(conn)
        if mode == "blackholed":
            self.healed.wait()  # silent until healed; heal() closes the connection
            return False
        if mode == "slow":
            self.healed.wait(self.slow_delay)
            mode = "healthy"
        if mode == "trickle":  # every read gets a byte before any per-read timeout: only a total bound helps
            # Stored first, as a collector does before it starts a 200: a client that gets the status line but
            # not the rest may take the 200 as it is.
            batch = _decode(headers, body)
            self._store(batch, batch.get("events", []) if isinstance(batch, dict) else [])
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}":
                if self.healed.wait(TRICKLE_INTERVAL):
                    return False
                conn.sendall(bytes([byte]))
            return True
        if mode in ("500", "429"):
            extra = f"Retry-After: {self.retry_after}\r\n" if mode == "429" else ""
            _send(conn, int(mode), b'{"error":"scripted"}', extra)
            return True
        batch = _decode(headers, body)
        events = batch.get("events", []) if isinstance(batch, dict) else []
        if mode == "413" and len(events) > MAX_EVENTS_413:
            _send(conn, 413, b'{"error":"too large"}')
            return True
        self._store(batch, events)
        if mode == "garbage":  # a 200 whose body is not the JSON the SDK might expect: alternately not JSON at all
            garbage = b"\x00\xff<html>not json" if self.requests % 2 else b'{"accepted":"lots","extra":[1,'
            _send(conn, 200, garbage, "Content-Type: application/json\r\n")
            return True
        if mode == "reset":  # stored, then the answer dies half-way: the SDK cannot know, so it retries
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"acc")
            _reset(conn)
            return False
        _send(conn, 200, json.dumps({"accepted": len(events)}).encode())
        return True

    def _store(self, batch: Any, events: list[Any]) -> None:
        with self.lock:
            new = 0
            for event in events:
                if isinstance(event, dict) and isinstance(event.get("event_id"), str):
                    new += not self.arrivals[event["event_id"]]
                    self.arrivals[event["event_id"]] += 1
            dropped = batch.get("dropped") if isinstance(batch, dict) else None
            # A batch whose every event was stored before is a retry: its drop counts were counted then.
            if isinstance(dropped, dict) and (new or not events):
                self.reported_drops.update({k: v for k, v in dropped.items() if isinstance(v, int) and v > 0})


def _read_request(reader: Any) -> tuple[dict[str, str], bytes] | None:
    line = reader.readline(65536)
    if not line:
        return None
    headers: dict[str, str] = {}
    while True:
        header = reader.readline(65536)
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return headers, body


def _decode(headers: dict[str, str], body: bytes) -> Any:
    try:
        data = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
        return json.loads(data)
    except (OSError, ValueError, EOFError):
        return None


def _send(conn: socket.socket, status: int, body: bytes, extra: str = "") -> None:
    content_type = "" if "Content-Type" in extra else "Content-Type: application/json\r\n"
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}{content_type}\r\n"
    conn.sendall(head.encode("latin-1") + body)


def _reset(conn: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a FIN: what a crashing server or a firewall sends."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()


# --- helpers for the other faults ---------------------------------------------------------------------------
def dead_port() -> int:
    """A port on 127.0.0.1 that refuses connections (bound a moment ago, now closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GarbageServer:
    """Answers any connection with bytes that are not HTTP, then closes: a proxy misconfigured into nonsense."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._loop, name="garbage-proxy", daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError):
                conn.settimeout(1.0)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                conn.sendall(b"\x16\x03\x01garbage \xff\xfe\r\n\r\n")
                conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now with `cryptography` (nothing downloaded)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"faults-{name}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
