"""The event catalogue: every event and field that may leave a process, and why (the one source of truth).

The SDK's privacy filter, the collector's validation, the stores' columns, `blindai-telemetry catalogue`
and `docs/privacy.md` are all derived from the tables below. Adding a field here is the only way to
collect something new; see docs/wire-format.md for the rules on changing it without breaking old senders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CATALOGUE_VERSION = 1

#: Longest string a field may carry. Amplitude caps strings at 1,024 characters; ours are identifiers
#: and version strings, so 200 leaves room for real values while keeping free text out.
MAX_STRING_LENGTH = 200

MODES = ("hardware", "simulation", "dcsv3")
#: A failed request reports one of these words, never an exception message (which can carry data).
ERROR_KINDS = ("invalid_model", "invalid_input", "model_not_found", "too_large", "internal")


@dataclass(frozen=True)
class Field:
    """One field of the catalogue: its wire name, JSON type, and the reason it is collected."""

    name: str
    type: type  # str, int, float or bool (a float field also accepts an int)
    why: str
    choices: tuple[str, ...] | None = None
    #: Free-text strings go through the scrubber; identifiers and enums are checked against a pattern.
    scrub: bool = False
    #: Set on fields that only a server event caused by a client request carries.
    client: bool = False

    def json_type(self) -> str:
        return {str: "string", int: "integer", float: "number", bool: "boolean"}[self.type]


@dataclass(frozen=True)
class EventSpec:
    """One event of the catalogue and the properties it may carry."""

    name: str
    why: str
    properties: tuple[str, ...] = ()


_UUID_WHY = "random, made on this machine; never derived from host, user or hardware names"

#: Context attached to every event by the SDK (Amplitude calls these user properties).
CONTEXT_FIELDS: tuple[Field, ...] = (
    Field("install_id", str, f"counts distinct installs without knowing who they are ({_UUID_WHY})"),
    Field("session_id", str, f"groups the events of one process start ({_UUID_WHY})"),
    Field("app", str, "which program sent the event (e.g. blindai-server, blindai-client)"),
    Field("app_version", str, "version adoption: which releases are still in use"),
    Field("os_name", str, "which platforms to support (platform.system())"),
    Field("os_release", str, "which OS releases to support (the release, never the kernel build string)"),
    Field("arch", str, "which CPU architectures to build for (platform.machine())"),
    Field("python_version", str, "which Python versions to keep supporting (major.minor.patch)"),
    Field("mode", str, "whether servers run in hardware, simulation or DCsv3 mode", choices=MODES),
    Field("uptime_s", float, "how long servers stay up"),
    Field("cpu_count", int, "what hardware BlindAI runs on"),
    Field("memory_gb", float, "what hardware BlindAI runs on (rounded to a power of two against fingerprinting)"),
    Field("is_ci", bool, "so that CI runs can be excluded from usage figures"),
)

#: On server events caused by a client request: the client's anonymous facts (the original's ClientInfo,
#: without its re-identifiable hash of host and user names).
CLIENT_FIELDS: tuple[Field, ...] = (
    Field("client_install_id", str, f"counts distinct clients ({_UUID_WHY})", client=True),
    Field("client_app_version", str, "which client versions talk to which servers", client=True),
    Field("client_os_name", str, "which client platforms to support", client=True),
    Field("client_os_release", str, "which client OS releases to support", client=True),
    Field("client_arch", str, "which client architectures to support", client=True),
    Field("client_user_agent", str, "which client library sent the request (e.g. blindai-python)", client=True),
)

#: Event properties.
PROPERTY_FIELDS: tuple[Field, ...] = (
    Field("model_name", str, "which public architectures are used; other names are hashed or omitted",
          scrub=True),
    Field("model_size_bytes", int, "how large the models people upload are"),
    Field("duration_ms", float, "how fast requests are in the wild"),
    Field("input_bytes", int, "how large inference inputs are (the size only, never the data)"),
    Field("ok", bool, "how often requests fail"),
    Field("error_kind", str, "why requests fail, as one word from a fixed list", choices=ERROR_KINDS),
)

_REQUEST = ("ok", "error_kind")
_CLIENT = tuple(f.name for f in CLIENT_FIELDS)

EVENTS: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec("server_started", "how many servers run, in which mode and version"),
        EventSpec("server_stopped", "how long servers stay up"),
        EventSpec("model_uploaded", "which features are used and how fast uploads are",
                  ("model_name", "model_size_bytes", "duration_ms", *_REQUEST, *_CLIENT)),
        EventSpec("model_run", "which features are used and how fast inference is",
                  ("model_name", "duration_ms", "input_bytes", *_REQUEST, *_CLIENT)),
        EventSpec("model_deleted", "which features are used", ("model_name", *_CLIENT)),
        EventSpec("client_connected", "how many clients connect, from which platforms"),
    )
}

#: Fields every event carries besides its context: assigned by the SDK, used for deduplication and time.
ENVELOPE_FIELDS: tuple[Field, ...] = (
    Field("event_id", str, "lets the collector ignore a retried event instead of counting it twice"),
    Field("event", str, "what happened", choices=tuple(EVENTS)),
    Field("time", int, "when it happened (Unix milliseconds)"),
)

FIELDS: dict[str, Field] = {f.name: f for f in (*ENVELOPE_FIELDS, *CONTEXT_FIELDS, *CLIENT_FIELDS,
                                                *PROPERTY_FIELDS)}
PROPERTY_NAMES: frozenset[str] = frozenset(f.name for f in (*CLIENT_FIELDS, *PROPERTY_FIELDS))
CONTEXT_NAMES: frozenset[str] = frozenset(f.name for f in CONTEXT_FIELDS)

#: What never leaves a process, whatever a host app passes to track().
NEVER_COLLECTED = (
    "user identity: names, user names, host names, e-mail addresses",
    "IP addresses (the collector never stores or logs the sender's address)",
    "URLs and file paths",
    "model bytes, inference inputs and outputs, request payloads",
    "exception messages (a failure is reported as one word: " + ", ".join(ERROR_KINDS) + ")",
    "the kernel build string and any hardware serial or MAC address",
)


def allowed_properties(event: str) -> frozenset[str]:
    """The property names `event` may carry (empty for an unknown event)."""
    spec = EVENTS.get(event)
    return frozenset(spec.properties) if spec else frozenset()


def as_dict() -> dict[str, Any]:
    """The catalogue as plain data, for `blindai-telemetry catalogue --json` and the docs."""

    def field(f: Field) -> dict[str, Any]:
        out: dict[str, Any] = {"name": f.name, "type": f.json_type(), "why": f.why}
        if f.choices:
            out["choices"] = list(f.choices)
        return out

    return {
        "version": CATALOGUE_VERSION,
        "envelope": [field(f) for f in ENVELOPE_FIELDS],
        "context": [field(f) for f in CONTEXT_FIELDS],
        "events": [
            {"name": s.name, "why": s.why, "properties": [field(FIELDS[p]) for p in s.properties]}
            for s in EVENTS.values()
        ],
        "never_collected": list(NEVER_COLLECTED),
    }
