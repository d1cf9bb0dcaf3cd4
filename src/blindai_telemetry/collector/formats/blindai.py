"""The original BlindAI servers' wire format (`POST /blindai`; era A arrives on `/2/httpapi`), decoded into rows.

The original Rust servers (2022-2023, RESEARCH.md §1) sent a bare JSON array of events, each
`{"user_id", "event_type", "device_id", "time" (Unix seconds), "app_version", "user_properties",
"event_properties": {"<Variant>": {...}}}`, in three eras:
- A: the same events inside an Amplitude HTTP V2 body (`amplitude.py` hands them to `map_event`);
- B: a bare array with `cloud_user_id` and `custom_agent_id`; `SendModel`/`RunModel` carry `sign`;
- C: as B, without `sign`, and `RunModel` carries `model_hash` instead of `model_name`.

Decisions (each one keeps the SDK's promise of what never leaves a process: see `privacy`):
- `client_uid` (an unsalted sha256 of host name and user name, re-identifiable) and `client_platform_version`
  (the kernel build string) are never kept; `cloud_user_id`, `custom_agent_id`, `sign` and `model_hash` are
  dropped. Every dropped non-null field is counted.
- `client_send_model` / `client_run_model` (2022-04..09) are dropped whole and counted: the server sent them
  as copies of its own `send_model` / `run_model` for the same request, under the client's re-identifiable
  uid as `user_id`, so keeping them would count each request twice and store that uid.
- The install id is the server's `user_id`, kept as sent (ids are text in every store); mock-mode servers sent `""`,
  stored as `MOCK_INSTALL_ID` so that those servers still count as one install.
- Model names follow the SDK's default policy (`privacy`: public architecture names pass, others are hashed),
  keyed per install under a collector-wide key (`ModelNames`): one install's models can be counted, unrevealed.
- `event_id` is a name-based UUID of the canonical JSON of the event's validated fields, so a replayed old batch
  deduplicates. Fields that are never stored (the client uid, the kernel string, model names and hashes, the
  cloud ids) and unknown fields are left out, so that the id cannot be used to confirm a guess of any of them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from blindai_telemetry import catalogue
from blindai_telemetry.collector.formats import UNKNOWN_EVENT, Decoded, Format, FormatError
from blindai_telemetry.collector.formats.mapping import (
    EventError,
    catalogue_value,
    content_id,
    disambiguate,
    put,
    time_ms,
)
from blindai_telemetry.privacy import hashed_model_name

SOURCE = "blindai"
APP = "blindai-server"
#: Install id of servers in mock mode, which sent an empty `user_id`.
MOCK_INSTALL_ID = "blindai-mock"

#: Original event types and the catalogue events they became.
EVENT_TYPES: dict[str, str] = {"started": "server_started", "send_model": "model_uploaded", "run_model": "model_run"}
#: Copies of a server event sent under the client's uid (2022-04..09): dropped whole, see the module docstring.
CLIENT_COPY_EVENT_TYPES = frozenset({"client_send_model", "client_run_model"})
ORIGINAL_EVENT_TYPES = frozenset(EVENT_TYPES) | CLIENT_COPY_EVENT_TYPES
#: The variant tag each event type's `event_properties` carries (serde's externally tagged enum).
VARIANTS: dict[str, str] = {"started": "Started", "send_model": "SendModel", "run_model": "RunModel"}

# Fields that are read, and fields that are dropped (counted when not null), at each level of an EVENT.
_TOP_DROPPED = frozenset({"cloud_user_id", "custom_agent_id"})
_USER_MAPPED: dict[str, str] = {
    "client_platform_name": "client_os_name",
    "client_platform_release": "client_os_release",
    "client_platform_arch": "client_arch",
    "client_user_agent": "client_user_agent",
    "client_user_agent_version": "client_app_version",
}
_USER_NEVER_KEPT = frozenset({"client_uid", "client_platform_version"})
_PROPS_DROPPED = frozenset({"sign", "model_hash"})
# What an event id is computed from: validated fields only. Fields that are never stored (client uid, kernel
# string, model names and hashes, cloud ids) stay out, so that a stored id cannot confirm a guess of them;
# unknown fields stay out too (they may carry anything, nested to any depth).
_ID_TOP = ("user_id", "event_type", "device_id", "time", "app_version")
_ID_USER = ("sgx_mode", "uptime", "azure_dcsv3_patch_enabled", *_USER_MAPPED)
_ID_PROPS = ("model_size", "time_taken")

_OS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 ._-]{0,31}")


# --- model names ----------------------------------------------------------------------------------------

class ModelNames:
    """Applies the SDK's model-name policy (`hashed`, its default) to names from old servers, which sent them raw.

    A public architecture name passes, normalised as the SDK does; any other name becomes the SDK's keyed hash
    under a per-install key derived from the collector-wide key: one install's models can be counted, names
    stay unrevealed, and the same name on two installs cannot be linked. Without a key, a random one is made
    per process (hashes then change when the collector restarts; pass a stable key to keep them).
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key else secrets.token_bytes(32)

    def __call__(self, install_id: str, name: str) -> str:
        # JSON may carry lone surrogates, which UTF-8 cannot encode: replace them rather than fail.
        name = name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        install = install_id.encode("utf-8", "surrogatepass")
        return hashed_model_name(hmac.new(self._key, install, hashlib.sha256).hexdigest(), name)


_DEFAULT_MODEL_NAMES = ModelNames()


# --- one event ------------------------------------------------------------------------------------------


@dataclass
class Mapped:
    """One decoded event: its row (None when the event is dropped whole) and the fields it dropped."""

    row: dict[str, Any] | None
    dropped_fields: int = 0
    #: What the event id was computed from (None when the id came from elsewhere).
    id_material: Any = None


def _optional(obj: Mapping[str, Any], field: str, kind: type | tuple[type, ...], path: str) -> Any:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise EventError(path, f"'{path}' has the wrong type")
    if not isinstance(value, kind):
        raise EventError(path, f"'{path}' has the wrong type")
    if isinstance(value, float) and not math.isfinite(value):
        raise EventError(path, f"'{path}' must be a finite number")
    return value


def _mode(user_properties: Mapping[str, Any], device_id: str | None) -> str | None:
    dcsv3 = _optional(user_properties, "azure_dcsv3_patch_enabled", bool, "user_properties.azure_dcsv3_patch_enabled")
    if dcsv3:
        return "dcsv3"
    sgx_mode = _optional(user_properties, "sgx_mode", str, "user_properties.sgx_mode")
    if sgx_mode in ("HW", "SW"):
        return "hardware" if sgx_mode == "HW" else "simulation"
    # Servers whose user_properties lack sgx_mode still name the mode in their platform string.
    platform = (device_id or "").upper()
    if "SGX HW" in platform:
        return "hardware"
    if platform.endswith(("SGX SW", "- SW")) or platform == "SW":
        return "simulation"
    return None


def _variant(event_type: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    props = obj.get("event_properties")
    if props is None:
        return {}
    expected = VARIANTS[event_type]
    if not isinstance(props, dict) or list(props) != [expected]:
        raise EventError("event_properties", f"'event_properties' must be {{\"{expected}\": {{...}}}}")
    inner = props[expected]
    if inner is None:
        return {}
    if not isinstance(inner, dict):
        raise EventError(f"event_properties.{expected}", f"'event_properties.{expected}' must be an object")
    return inner


def _id_material(obj: Mapping[str, Any], event_type: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """The validated facts of an event that identify it: never a field that is not stored, nor unknown content."""
    user = obj.get("user_properties") or {}
    return {
        **{k: obj.get(k) for k in _ID_TOP},
        "user_properties": {k: user.get(k) for k in _ID_USER},
        "event_properties": {VARIANTS[event_type]: {k: props.get(k) for k in _ID_PROPS}},
    }


def _count_present(mapping: Mapping[str, Any], names: Iterable[str]) -> int:
    return sum(1 for name in names if mapping.get(name) is not None)


def map_event(obj: Any, *, model_names: ModelNames | None = None) -> Mapped:
    """Decode one original EVENT into a row of the `events` table; raise `EventError` when it is malformed."""
    if not isinstance(obj, dict):
        raise EventError("event", "each event must be a JSON object")
    event_type = obj.get("event_type")
    if not isinstance(event_type, str):
        raise EventError("event_type", "'event_type' must be a string")
    if event_type not in EVENT_TYPES:
        return Mapped(row=None)  # client copies and unknown types: dropped whole, counted by the caller
    user_id = obj.get("user_id")
    if not isinstance(user_id, str):
        raise EventError("user_id", "'user_id' must be a string (the server's uid, empty in mock mode)")
    install_id = user_id or MOCK_INSTALL_ID
    event = EVENT_TYPES[event_type]
    row: dict[str, Any] = {
        "event": event, "install_id": install_id, "app": APP, "source": SOURCE,
        "time": time_ms(obj.get("time")),
    }
    device_id = _optional(obj, "device_id", str, "device_id")
    dropped = _map_top(obj, row, device_id)
    allowed = catalogue.allowed_properties(event)
    dropped += _map_user(obj, row, device_id, allowed)
    props = _variant(event_type, obj)
    _map_model_name(props, VARIANTS[event_type], row, allowed, model_names)
    dropped += _map_props(props, VARIANTS[event_type], row)
    material = _id_material(obj, event_type, props)
    row["event_id"] = content_id(material)
    return Mapped(row=row, dropped_fields=dropped, id_material=material)


def _map_top(obj: dict[str, Any], row: dict[str, Any], device_id: str | None) -> int:
    """The event's own fields (version, the OS in `device_id`) into `row`; returns how many were dropped."""
    app_version = _optional(obj, "app_version", str, "app_version")
    if app_version:
        row["app_version"] = app_version
    if device_id and (os_name := _OS_NAME.fullmatch(device_id.split(" - ", 1)[0].strip())):
        row["os_name"] = os_name.group(0)
    dropped = _count_present(obj, _TOP_DROPPED)
    return dropped + sum(1 for k, v in obj.items() if v is not None and k not in _KNOWN_TOP)


def _map_user(obj: dict[str, Any], row: dict[str, Any], device_id: str | None, allowed: frozenset[str]) -> int:
    """`user_properties` (mode, uptime, the client's facts) into `row`; returns how many were dropped."""
    user = obj.get("user_properties")
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise EventError("user_properties", "'user_properties' must be an object")
    if (mode := _mode(user, device_id)) is not None:
        row["mode"] = mode
    uptime = _optional(user, "uptime", (int, float), "user_properties.uptime")
    if uptime is not None:
        if uptime < 0:
            raise EventError("user_properties.uptime", "'uptime' must not be negative")
        if (value := catalogue_value("uptime_s", uptime)) is not None:
            row["uptime_s"] = value
    dropped = 0
    for source_name, target in _USER_MAPPED.items():
        value = _optional(user, source_name, str, f"user_properties.{source_name}")
        if value is None:
            continue
        if target in allowed:
            put(row, target, value)
        else:
            dropped += 1  # client facts on `started`: no client caused it
    dropped += _count_present(user, _USER_NEVER_KEPT)
    return dropped + sum(1 for k, v in user.items() if v is not None and k not in _KNOWN_USER)


def _map_props(props: Mapping[str, Any], tag: str, row: dict[str, Any]) -> int:
    """The variant's properties but the model name (size, duration) into `row`; returns how many were dropped."""
    size = _optional(props, "model_size", int, f"event_properties.{tag}.model_size")
    if size is not None:
        if (value := catalogue_value("model_size_bytes", size)) is None or value < 0:
            raise EventError(f"event_properties.{tag}.model_size", "'model_size' must be a non-negative integer")
        put(row, "model_size_bytes", value)
    taken = _optional(props, "time_taken", (int, float), f"event_properties.{tag}.time_taken")
    if taken is not None:
        if taken < 0:
            raise EventError(f"event_properties.{tag}.time_taken", "'time_taken' must not be negative")
        put(row, "duration_ms", float(taken) * 1000.0)  # seconds on the wire
    dropped = _count_present(props, _PROPS_DROPPED)
    return dropped + sum(1 for k, v in props.items() if v is not None and k not in _KNOWN_PROPS)


def _map_model_name(props: Mapping[str, Any], tag: str, row: dict[str, Any], allowed: frozenset[str],
                    model_names: ModelNames | None) -> None:
    """The model name, by the model-name policy: public architecture names as they are, others hashed."""
    name = _optional(props, "model_name", str, f"event_properties.{tag}.model_name")
    if name is not None and "model_name" in allowed:
        put(row, "model_name", (model_names or _DEFAULT_MODEL_NAMES)(row["install_id"], name))


_KNOWN_TOP = frozenset({"user_id", "event_type", "device_id", "time", "app_version", "user_properties",
                        "event_properties", *_TOP_DROPPED})
_KNOWN_USER = frozenset({"sgx_mode", "uptime", "azure_dcsv3_patch_enabled", *_USER_MAPPED, *_USER_NEVER_KEPT})
_KNOWN_PROPS = frozenset({"model_name", "model_size", "time_taken", *_PROPS_DROPPED})


def decode_event(obj: dict[str, Any]) -> dict[str, Any] | None:
    """One original EVENT as a row, or None when the event is dropped whole; raises `EventError` if malformed."""
    return map_event(obj).row


# --- the bare array -------------------------------------------------------------------------------------


def decode(payload: Any, *, model_name_key: bytes | None = None) -> Decoded:
    """Decode the body of `POST /blindai`: a bare JSON array of original events (eras B and C).

    Raises `FormatError` (400) naming the first malformed event's index and field; nothing is decoded then.
    """
    if not isinstance(payload, list):
        raise FormatError("the body must be a JSON array of events",
                          body={"error": "the body must be a JSON array of events", "detail": {"field": "body"}})
    model_names = ModelNames(model_name_key) if model_name_key else _DEFAULT_MODEL_NAMES
    decoded = Decoded()
    material: dict[int, Any] = {}
    for index, obj in enumerate(payload):
        try:
            mapped = map_event(obj, model_names=model_names)
        except EventError as exc:
            message = f"event {index}: {exc}"
            detail = {"index": index, "field": exc.field}
            raise FormatError(message, body={"error": message, "detail": detail}) from None
        decoded.dropped_fields += mapped.dropped_fields
        if mapped.row is None:
            decoded.dropped_events[UNKNOWN_EVENT] += 1
            continue
        material[len(decoded.rows)] = mapped.id_material
        decoded.rows.append(mapped.row)
    disambiguate(decoded.rows, material)
    return decoded


class _BlindAI(Format):
    source = SOURCE

    def decode(self, payload: Any, model_name_key: bytes | None) -> Decoded:
        return decode(payload, model_name_key=model_name_key)

    def offered_key(self, payload: Any, query: Mapping[str, str]) -> str | None:
        # Old servers cannot add headers, only a URL: `.../blindai?write_key=KEY` (the request log omits queries).
        return query.get("write_key")


FORMAT: Format = _BlindAI()
