"""The hostile-input corpus (issue 8): named payloads that try to break the collector's endpoints, and the
check every answer must pass. Shared by tests/reliability/test_hostile_corpus.py (which asserts) and
`python -m benchmarks.robustness` (which prints the counts).

Three families, for each of `POST /v1/batch`, `/2/httpapi`, `/blindai`, `/v1/deletions`:
- bodies: malformed and truncated JSON, empty, scalars, NUL bytes, invalid UTF-8, lone surrogates, BOMs, deep
  nesting, numbers out of every range, duplicate keys, lying or unsupported Content-Encoding, gzip of garbage,
  gzip bombs, too large as sent, too many events, wrong Content-Type;
- fields: every field of a valid body of the format replaced by each hostile value (wrong types, huge and
  empty strings, NUL, surrogates, out-of-range numbers, nested objects, injection strings) or removed, and
  unknown keys added to each of its objects;
- and `GET /v1/deletions/{id}` with weird ids.

The contract (DESIGN.md "Collector HTTP"): never a 5xx; a refusal is a 4xx whose JSON body names the problem
under "error", without a traceback; nothing of a refused batch is stored. A value the catalogue drops (not a
refusal) may leave the rest of the event stored: then at most the events sent are added.
"""

from __future__ import annotations

import copy
import functools
import gzip
import itertools
import json
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

ENDPOINTS = ("/v1/batch", "/2/httpapi", "/blindai", "/v1/deletions", "GET /v1/deletions/{id}")
NOW_MS = int(time.time() * 1000)
_ids = itertools.count()


def _uid(prefix: str) -> str:
    return f"{prefix}-{next(_ids):06d}"


# --- valid bodies, one per endpoint (fresh ids each time, so an accepted one is never a duplicate) ----------


def native_body() -> dict[str, Any]:
    return {"schema_version": 1, "sent_at": NOW_MS, "dropped": {"queue_full": 0}, "events": [{
        "event_id": _uid("6f1d5c1e-hostile"), "event": "model_run", "time": NOW_MS, "install_id": "hostile-native",
        "session_id": "c2a1-session", "app": "blindai-server", "app_version": "0.6.3", "os_name": "Linux",
        "os_release": "6.1.0-18-amd64", "arch": "x86_64", "python_version": "3.11.7", "mode": "simulation",
        "uptime_s": 12.5, "cpu_count": 8, "memory_gb": 16.0, "is_ci": False,
        "properties": {"model_name": "resnet50", "duration_ms": 12.5, "input_bytes": 1024, "ok": False,
                       "error_kind": "invalid_input", "client_app_version": "0.6.3"},
    }]}


def amplitude_body() -> dict[str, Any]:
    return {"api_key": "hostile-key", "options": {"min_id_length": 5}, "events": [{
        "event_type": "model_run", "user_id": "hostile-amplitude", "device_id": "device-hostile",
        "time": NOW_MS, "insert_id": _uid("insert"), "session_id": NOW_MS, "app_version": "0.6.3",
        "os_name": "Linux", "os_version": "6.1.0", "platform": "Python",
        "user_properties": {"mode": "simulation", "cpu_count": 8, "is_ci": False, "app": "blindai-server"},
        "event_properties": {"model_name": "resnet50", "duration_ms": 3.5, "ok": True, "input_bytes": 10},
    }]}


def blindai_body() -> list[dict[str, Any]]:
    return [{
        "user_id": "1A2B3C4D5E6F", "event_type": "run_model", "device_id": "Linux - SGX SW",
        "time": 1663600000 + next(_ids), "app_version": "0.5.6", "cloud_user_id": None,
        "user_properties": {"sgx_mode": "SW", "uptime": 42, "client_platform_name": "Linux",
                            "client_user_agent": "blindai-python", "client_user_agent_version": "0.5.6"},
        "event_properties": {"RunModel": {"model_name": "resnet50", "time_taken": 0.25, "model_size": 1000}},
    }]


def deletion_body() -> dict[str, Any]:
    return {"install_ids": [_uid("nobody-hostile")]}


BODIES: dict[str, Callable[[], Any]] = {
    "/v1/batch": native_body, "/2/httpapi": amplitude_body, "/blindai": blindai_body, "/v1/deletions": deletion_body,
}


def events_in(path: str, body: Any) -> int:
    """How many events a body carries (a bound on the rows it may add)."""
    if path == "/v1/deletions":
        return 0
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return len(body["events"])
    return 1


# --- cases --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    endpoint: str  # one of ENDPOINTS
    method: str
    path: str
    make_body: Callable[[], bytes] = field(repr=False)  # bodies are built when sent (bombs stay small in memory)
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    max_rows: int = 0  # at most this many rows may be added (0: a refusal, or a 2xx that stores nothing)
    statuses: frozenset[int] | None = None  # the expected statuses, when the case is precise enough to say
    phrase: str | None = None  # a word the error must contain (a field name, "gzip", ...)


class Raw(str):
    """A JSON number written as is (`-0`, `1e400`, `NaN`): what Python's json module will not produce."""


def _dumps(obj: Any) -> bytes:
    raws: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(str(value))
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(obj), allow_nan=True)
    for index, raw in enumerate(raws):
        text = text.replace(f'"@@raw{index}@@"', raw)
    return text.encode()


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """100 MB of zeros in ~100 KB of gzip, made in slices (memory stays small)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    return b"".join(deflater.compress(chunk) for _ in range(100)) + deflater.flush()


def _nested(depth: int, opener: bytes, closer: bytes) -> Callable[[], bytes]:
    return lambda: opener * depth + closer * depth


#: (name, raw body, extra headers, expected statuses, phrase) — the same bytes for every endpoint.
_RAW: tuple[tuple[str, bytes | Callable[[], bytes], dict[str, str], set[int] | None, str | None], ...] = (
    ("empty body", b"", {}, {400}, "empty"),
    ("whitespace only", b" \r\n\t ", {}, {400}, "empty"),
    ("null", b"null", {}, {400}, None),
    ("true", b"true", {}, {400}, None),
    ("a number", b"0", {}, {400}, None),
    ("a string", b'"events"', {}, {400}, None),
    ("an empty object", b"{}", {}, {400}, None),
    ("an empty array", b"[]", {}, None, None),
    ("trailing comma", b'{"events": [1,],}', {}, {400}, "JSON"),
    ("single quotes", b"{'events': []}", {}, {400}, "JSON"),
    ("unquoted keys", b"{events: []}", {}, {400}, "JSON"),
    ("a comment", b'{"events": [] /* hi */}', {}, {400}, "JSON"),
    ("NaN literal", b'{"events": [NaN]}', {}, {400}, "JSON"),
    ("Infinity literal", b'[{"time": Infinity}]', {}, {400}, "JSON"),
    ("two documents", b"{}{}", {}, {400}, "JSON"),
    ("unterminated string", b'{"events": "abc', {}, {400}, "JSON"),
    ("invalid escape", b'{"events": "\\x41"}', {}, {400}, "JSON"),
    ("raw NUL byte", b'{"events": [{"event": "model\x00run"}]}', {}, {400}, "NUL"),
    ("only a NUL byte", b"\x00", {}, {400}, None),
    ("invalid UTF-8", b'{"events": [{"event": "\xff\xfe"}]}', {}, {400}, "UTF-8"),
    ("overlong UTF-8", b'{"events": [{"event": "\xc0\xaf"}]}', {}, {400}, "UTF-8"),
    ("truncated UTF-8 sequence", b'{"events": [{"event": "\xe2\x82"}]}', {}, {400}, "UTF-8"),
    ("UTF-8 BOM", b"\xef\xbb\xbf[]", {}, {400}, None),
    ("UTF-16 body", json.dumps({"events": []}).encode("utf-16"), {}, {400}, None),
    ("deep arrays, 10k levels", _nested(10_000, b"[", b"]"), {}, {400}, "deeply"),
    ("deep objects, 10k levels", lambda: b'{"a":' * 10_000 + b"1" + b"}" * 10_000, {}, {400}, "deeply"),
    ("deep arrays, 100k levels", _nested(100_000, b"[", b"]"), {}, {400}, "deeply"),
    ("1e400", b'{"events": [1e400]}', {}, {400}, None),
    ("-1e400", b'[{"time": -1e400}]', {}, {400}, None),
    ("a 400-digit integer", b'{"events": [' + b"9" * 400 + b"]}", {}, {400}, None),
    ("duplicate keys", b'{"events": [], "events": {"x": 1}, "api_key": "k", "install_ids": 1}', {}, {400}, None),
    ("10k keys", lambda: _dumps({f"k{i}": i for i in range(10_000)}), {}, {400}, None),
    ("an array of 1000 nulls", lambda: _dumps({"events": [None] * 1000, "api_key": "k"}), {}, {400}, None),
    ("lying Content-Encoding: gzip", b'{"events": []}', {"Content-Encoding": "gzip"}, {400}, "gzip"),
    ("gzip of garbage", lambda: gzip.compress(b"\x00\xff garbage \x01" * 50), {"Content-Encoding": "gzip"},
     {400}, None),
    ("gzip header then garbage", b"\x1f\x8b\x08\x00" + b"\xde\xad\xbe\xef" * 20, {"Content-Encoding": "gzip"},
     {400}, "gzip"),
    ("truncated gzip", lambda: gzip.compress(b'{"events": []}')[:-6], {"Content-Encoding": "gzip"}, {400}, "gzip"),
    ("junk after gzip", lambda: gzip.compress(b'{"events": []}') + b"junk", {"Content-Encoding": "gzip"}, {400},
     "gzip"),
    ("gzip twice", lambda: gzip.compress(gzip.compress(b"[]")), {"Content-Encoding": "gzip"}, {400}, None),
    ("deflate", lambda: zlib.compress(b"[]"), {"Content-Encoding": "deflate"}, {415}, "Content-Encoding"),
    ("br", b"[]", {"Content-Encoding": "br"}, {415}, "Content-Encoding"),
    ("gzip, gzip", lambda: gzip.compress(b"[]"), {"Content-Encoding": "gzip, gzip"}, {415}, "Content-Encoding"),
    ("gzip bomb, 100 MB of zeros", gzip_bomb, {"Content-Encoding": "gzip"}, {413}, "inflated"),
    ("1.1 MB as sent", lambda: b'{"events": [], "pad": "' + b"x" * 1_100_000 + b'"}', {}, {413}, None),
)

#: Content types a client may lie with: the body is valid; the collector reads JSON whatever the label says.
_CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/xml", "", "application/json; charset=latin-1")

#: Values put in place of every field of a valid body.
HOSTILE_VALUES: tuple[tuple[str, Any], ...] = (
    ("null", None), ("true", True), ("false", False), ("-1", -1), ("0", 0), ("2^63", 2**63), ("2^64", 2**64),
    ("-2^63-1", -(2**63) - 1), ("1.5", 1.5), ("-0.0", -0.0), ("1e308", 1e308), ("-0", Raw("-0")),
    ("1e400", Raw("1e400")), ("-1e400", Raw("-1e400")), ("NaN", Raw("NaN")), ("40 digits", Raw("9" * 40)),
    ("1e-400", Raw("1e-400")), ("empty string", ""),
    ("100k string", "9" * 100_000), ("NUL string", "a\x00b"), ("lone surrogate", "\ud800x"),
    ("RTL override", "\u202egnp.exe"), ("SQL injection", "x'); DROP TABLE events; --"),
    ("an array", [1, "a", None]), ("an object", {"a": {"b": [1]}}), ("a deep object", {"a": [[[[[{"b": 1}]]]]]}),
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a JSON document (objects and arrays), the containers included."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(obj)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def _field_cases(endpoint: str) -> Iterator[Case]:
    template = BODIES[endpoint]()
    for path in _paths(template):
        label = ".".join(str(p) for p in path)
        for value_name, value in HOSTILE_VALUES:
            def make(path: tuple[Any, ...] = path, value: Any = value) -> bytes:
                return _dumps(_replace(BODIES[endpoint](), path, value))
            yield Case(f"{label} = {value_name}", endpoint, "POST", endpoint, make,
                       max_rows=events_in(endpoint, template))
        # And the field removed.
        def make_without(path: tuple[Any, ...] = path) -> bytes:
            body = BODIES[endpoint]()
            target = body
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
            return _dumps(body)
        yield Case(f"{label} removed", endpoint, "POST", endpoint, make_without, max_rows=events_in(endpoint, template))


#: Keys no format knows, added to every object of a valid body: dropped and counted, or refused, never stored.
UNKNOWN_KEYS: tuple[tuple[str, Any], ...] = (
    ("email", "carol@example.org"), ("ip", "203.0.113.9"), ("$set", {"plan": "pro"}), ("__proto__", {"admin": True}),
    ("constructor", {"prototype": {}}), ("", "empty key"), ("k" * 10_000, 1), ("nul\x00key", 1),
    ("surrogate\ud800key", 1), ("SELECT * FROM events", None),
)


def _unknown_field_cases(endpoint: str) -> Iterator[Case]:
    template = BODIES[endpoint]()
    containers: list[tuple[Any, ...]] = [()] + [p for p in _paths(template) if isinstance(_at(template, p), dict)]
    for path in containers:
        label = ".".join(str(p) for p in path) or "body"
        if not isinstance(_at(template, path), dict):
            continue
        for key, value in UNKNOWN_KEYS:
            def make(path: tuple[Any, ...] = path, key: str = key, value: Any = value) -> bytes:
                body = BODIES[endpoint]()
                _at(body, path)[key] = value
                return _dumps(body)
            yield Case(f"{label} + unknown key {key[:20]!r}", endpoint, "POST", endpoint, make,
                       max_rows=events_in(endpoint, template))


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def _body_cases(endpoint: str) -> Iterator[Case]:
    for name, raw, headers, statuses, phrase in _RAW:
        make = raw if callable(raw) else (lambda raw=raw: raw)
        all_headers = (("Content-Type", "application/json"), *headers.items())
        if endpoint == "/blindai" and name == "an empty array":
            statuses = {200}  # an empty batch of the original format: nothing to store, nothing wrong
        if endpoint == "/2/httpapi" and statuses == {413}:
            phrase = None  # Amplitude's own 413 body, "Payload too large", which its SDKs act on
        yield Case(name, endpoint, "POST", endpoint, make, all_headers,
                   statuses=frozenset(statuses) if statuses is not None else None, phrase=phrase)
    valid = BODIES[endpoint]
    ok = frozenset({202 if endpoint == "/v1/deletions" else 200})
    yield Case("a valid body (control)", endpoint, "POST", endpoint, lambda: _dumps(valid()),
               max_rows=events_in(endpoint, valid()), statuses=ok)
    yield Case("a valid body, gzip (control)", endpoint, "POST", endpoint, lambda: gzip.compress(_dumps(valid())),
               (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
               max_rows=events_in(endpoint, valid()), statuses=ok)
    for content_type in _CONTENT_TYPES:
        yield Case(f"Content-Type {content_type!r}", endpoint, "POST", endpoint, lambda: _dumps(valid()),
                   (("Content-Type", content_type),), max_rows=events_in(endpoint, valid()))
    # Truncations of a valid body at several points.
    for fraction in (0.1, 0.5, 0.9, 0.99):
        def truncated(fraction: float = fraction) -> bytes:
            data = _dumps(valid())
            return data[: max(1, int(len(data) * fraction))]
        yield Case(f"truncated at {fraction:.0%}", endpoint, "POST", endpoint, truncated,
                   statuses=frozenset({400}), phrase="JSON")
    if endpoint != "/v1/deletions":
        # More events than a batch may hold (2,000): 413 before anything else is read.
        def many() -> bytes:
            body = valid()
            events = body if isinstance(body, list) else body["events"]
            events.extend(copy.deepcopy(events[0]) for _ in range(2000))
            return _dumps(body)
        yield Case("2001 events", endpoint, "POST", endpoint, many, statuses=frozenset({413}))
    else:
        yield Case("10,001 install ids", endpoint, "POST", endpoint,
                   lambda: _dumps({"install_ids": [f"x-{i}" for i in range(10_001)]}), statuses=frozenset({413}))


_WEIRD_IDS = (
    "x", "00000000-0000-0000-0000-000000000000", "%00", "%ff%fe", "%c0%af", "..", "%2e%2e%2fadmin",
    "' OR 1=1 --", "%27%3B DROP TABLE deletions%3B--", "a" * 10_000, "%F0%9F%92%A9", "%E2%80%AE", "null",
    "-1", "1e400", "%20", "%0d%0aSet-Cookie: x=1", "{id}", "*", "$(reboot)",
)


def _get_cases() -> Iterator[Case]:
    for weird in _WEIRD_IDS:
        yield Case(f"id {weird[:30]!r}", "GET /v1/deletions/{id}", "GET", f"/v1/deletions/{weird}", lambda: b"",
                   (), statuses=frozenset({404}))


def corpus() -> list[Case]:
    """Every case, for every endpoint (a few hundred each)."""
    cases: list[Case] = []
    for endpoint in BODIES:
        cases += _body_cases(endpoint)
        cases += _field_cases(endpoint)
        cases += _unknown_field_cases(endpoint)
    cases += _get_cases()
    return cases


# --- running and checking ------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Per endpoint: cases tried and answers by class; `problems` names each case that broke the contract."""

    tried: dict[str, int] = field(default_factory=dict)
    by_class: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, endpoint: str, status: int) -> None:
        self.tried[endpoint] = self.tried.get(endpoint, 0) + 1
        classes = self.by_class.setdefault(endpoint, {"2xx": 0, "4xx": 0, "5xx": 0, "other": 0})
        key = f"{status // 100}xx" if status // 100 in (2, 4, 5) else "other"
        classes[key] += 1


def check(case: Case, response: httpx.Response, rows_added: int) -> list[str]:
    """What is wrong with the collector's answer to `case` (empty when it kept the contract)."""
    problems = []
    status = response.status_code
    if status >= 500:
        problems.append(f"answered {status}")
    if case.statuses is not None and status not in case.statuses:
        problems.append(f"answered {status}, expected {sorted(case.statuses)}")
    if "Traceback" in response.text or 'File "' in response.text:
        problems.append("a traceback in the answer")
    if 400 <= status < 600:
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, str) or not error:
            problems.append(f"no JSON error naming the problem: {response.text[:120]!r}")
        elif case.phrase is not None and case.phrase.lower() not in error.lower():
            problems.append(f"error {error[:120]!r} does not name {case.phrase!r}")
        if rows_added:
            problems.append(f"refused with {status} but {rows_added} rows were stored")
    elif case.endpoint == "/v1/deletions":
        if rows_added > 0:
            problems.append(f"a deletion added {rows_added} rows")
    elif not 0 <= rows_added <= case.max_rows:
        problems.append(f"{rows_added} rows added for a body of at most {case.max_rows} events")
    return problems


def _wait_done(http: httpx.Client, accepted: httpx.Response, timeout: float = 30.0) -> None:
    """Wait for an accepted deletion to run (on the writer, after the 202), so the rows are counted after it:
    a hostile id may equal one an earlier case stored events under, and deleting those is the contract."""
    deletion = accepted.json().get("id")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http.get(f"/v1/deletions/{deletion}").json().get("status") == "done":
            return
        time.sleep(0.01)


def run(http: httpx.Client, cases: Iterable[Case], count_rows: Callable[[], int], tally: Tally | None = None) -> Tally:
    """Send every case, check every answer; rows are counted before and after each one."""
    tally = tally if tally is not None else Tally()
    rows = count_rows()
    for case in cases:
        try:
            response = http.request(case.method, case.path, content=case.make_body(), headers=dict(case.headers))
        except httpx.HTTPError as exc:  # the collector dropped the connection: as bad as a 5xx
            tally.add(case.endpoint, 599)
            tally.problems.append(f"{case.endpoint} {case.name}: no answer ({type(exc).__name__})")
            continue
        if response.status_code == 202:
            _wait_done(http, response)
        after = count_rows()
        tally.add(case.endpoint, response.status_code)
        tally.problems += [f"{case.endpoint} {case.name}: {p}" for p in check(case, response, after - rows)]
        rows = after
    return tally
