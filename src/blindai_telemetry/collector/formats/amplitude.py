"""Amplitude's HTTP V2 API (`POST /2/httpapi`): the same request body, validation and response shapes.

So that an Amplitude SDK, or an original BlindAI server of era A, pointed at the collector works unchanged.
The rules follow Amplitude's HTTP V2 API reference (amplitude.com/docs/apis/analytics/http-v2; the same page
in github.com/Amplitude-Developer-Docs/amplitude-dev-center, docs/analytics/apis/http-v2-api.md):
- the body is `{"api_key", "events": [...], "options": {"min_id_length"}}`; `api_key` and a non-empty `events`
  are required (400 "Request missing required field" with `missing_field`);
- each event needs `event_type` and a `user_id` or `device_id` of at least 5 characters (or
  `options.min_id_length`); a shorter id is removed from the event, and an event left without one fails;
  ids on Amplitude's list of invalid ids fail; strings are at most 1,024 characters; `time` is an integer in
  ms; property objects nest at most 40 levels. Every failing event is listed by index in
  `events_with_missing_fields` / `events_with_invalid_fields` / `events_with_invalid_id_lengths` (the keys
  Amplitude's own SDKs read to fail those events and retry the rest), and nothing of the request is stored.

Mapping into the `events` table:
- install id = `user_id`, else `device_id` (kept as text); `event_type` must be a catalogue event, or an
  original BlindAI type (era A, handed to `blindai.map_event`); any other event is dropped whole and counted;
- `app_version`, `os_name` and `os_version` (→ `os_release`) map to the catalogue; catalogue fields are read by
  name from `user_properties` and `event_properties`; everything else is dropped and counted, except `ip`,
  which is never copied anywhere, not even into the event id;
- `time` is read in seconds when it is below 10^11 (`mapping.MS_THRESHOLD`: 10^11 s is in the year 5138, 10^11 ms
  in 1973), which covers every event tagged by a BlindAI variant, as those carry seconds of 2022-2023; without
  `time`, the event takes the time it was received, as on Amplitude;
- `event_id` is a name-based UUID of (`device_id`, else `user_id`; `insert_id`): Amplitude deduplicates an
  `insert_id` per device, so two devices that reuse one `insert_id` keep both events, and the sender's raw
  `insert_id` is never stored. Without `insert_id`, it is a name-based UUID of the stored fields, so an
  identical replay deduplicates.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blindai_telemetry import catalogue
from blindai_telemetry.collector.formats import UNKNOWN_EVENT, Decoded, Format, FormatError, blindai, mapping
from blindai_telemetry.stores.base import COLUMN_NAMES

if TYPE_CHECKING:
    from blindai_telemetry.collector.validate import Checked

SOURCE = "amplitude"
MAX_STRING_LENGTH = 1024
DEFAULT_MIN_ID_LENGTH = 5
MAX_PROPERTY_DEPTH = 40

#: Ids Amplitude refuses with a 400, compared lower-cased. Source: Amplitude's HTTP V2 API reference, "Device
#: IDs and User IDs minimum length" → "Invalid IDs" (Amplitude-Developer-Docs/amplitude-dev-center,
#: docs/analytics/apis/http-v2-api.md). `'""'` is the two-character string of two double quotes.
INVALID_IDS = frozenset({
    "anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", '""',
    "00000000-0000-0000-0000-000000000000", "{}", "lmy47d", "0", "-1",
})

_STR = (str,)
_INT = (int,)
_NUMBER = (int, float)
_OBJECT = (dict,)
#: The event keys of Amplitude's reference (and of its Python SDK) and their JSON types.
_STANDARD_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("user_id", "device_id", "event_type", "insert_id", "app_version", "platform", "os_name",
                     "os_version", "device_brand", "device_manufacturer", "device_model", "carrier", "country",
                     "region", "city", "dma", "language", "productId", "revenueType", "currency", "ip", "idfa",
                     "idfv", "adid", "android_id", "library", "partner_id", "version_name", "user_agent"), _STR),
    **dict.fromkeys(("time", "quantity", "event_id", "session_id"), _INT),
    **dict.fromkeys(("price", "revenue", "location_lat", "location_lng"), _NUMBER),
    **dict.fromkeys(("event_properties", "user_properties", "groups", "group_properties", "plan",
                     "ingestion_metadata"), _OBJECT),
}
#: Amplitude's standard fields that are catalogue fields under another name.
_STANDARD_MAPPED = {"app_version": "app_version", "os_name": "os_name", "os_version": "os_release"}
#: Read for the envelope (ids, time, dedup) rather than stored as fields; `ip` is never read at all.
_ENVELOPE = frozenset({"user_id", "device_id", "event_type", "time", "insert_id", "session_id",
                       "event_properties", "user_properties", "ip"})
#: Catalogue fields a sender may put in user_properties / event_properties (the envelope comes from Amplitude's
#: own fields: an `install_id` property must not override `user_id`).
_CONTEXT = catalogue.CONTEXT_NAMES - {"install_id"}
#: Per catalogue event, the names its property objects may carry (made once, not for every event), each with
#: whether it has a column of its own (else it goes to `properties`).
_ALLOWED = {event: {name: name in COLUMN_NAMES for name in _CONTEXT | catalogue.allowed_properties(event)}
            for event in catalogue.EVENTS}
#: The catalogue's text fields: a string needs no conversion (`mapping.catalogue_value` would return it as it is).
_TEXT = frozenset(name for name, f in catalogue.FIELDS.items() if f.type is str)


@dataclass
class _Problems:
    """Amplitude's 400 body, built event by event."""

    missing: dict[str, list[int]] = field(default_factory=dict)
    invalid: dict[str, list[int]] = field(default_factory=dict)
    id_lengths: dict[str, list[int]] = field(default_factory=dict)

    def add(self, kind: dict[str, list[int]], name: str, index: int) -> None:
        indexes = kind.setdefault(name, [])
        if not indexes or indexes[-1] != index:
            indexes.append(index)

    def __bool__(self) -> bool:
        return bool(self.missing or self.invalid or self.id_lengths)

    def error(self) -> FormatError:
        if self.missing:
            message = "Request missing required field"
        elif self.id_lengths and not self.invalid:
            message = "Invalid id length for user_id or device_id"
        else:
            message = "Invalid field values on some events"
        body: dict[str, Any] = {"code": 400, "error": message, "events_with_invalid_fields": self.invalid,
                                "events_with_missing_fields": self.missing}
        if self.id_lengths:
            body["events_with_invalid_id_lengths"] = self.id_lengths
        return FormatError(message, body=body)


def _request_error(message: str, missing_field: str | None = None) -> FormatError:
    body: dict[str, Any] = {"code": 400, "error": message}
    if missing_field is not None:
        body["missing_field"] = missing_field
    return FormatError(message if missing_field is None else f"{message}: {missing_field}", body=body)


def _too_deep_or_long(value: Any) -> bool:
    """True when a property object nests deeper than Amplitude allows or holds a string longer than it allows."""
    if isinstance(value, str):
        return len(value) > MAX_STRING_LENGTH
    if not isinstance(value, (dict, list)):
        return False
    # Containers only on the stack: property objects are mostly flat, and a tuple pushed (and popped) for each
    # scalar was most of this check's cost.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_PROPERTY_DEPTH:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, str):
                if len(child) > MAX_STRING_LENGTH:
                    return True
            elif isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _valid_standard(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) or not isinstance(value, kinds):
        return False
    if isinstance(value, str):
        return len(value) <= MAX_STRING_LENGTH
    return not (isinstance(value, dict) and _too_deep_or_long(value))


def _valid_id(value: str, min_length: int) -> bool:
    return len(value) >= min_length


def _check_event(event: Any, index: int, min_length: int, problems: _Problems) -> None:
    """Record in `problems` what Amplitude would refuse in this event."""
    if not isinstance(event, dict):
        problems.add(problems.invalid, "event", index)
        return
    for name, value in event.items():
        kinds = _STANDARD_TYPES.get(name)
        if kinds is None or value is None:
            continue
        if not _valid_standard(value, kinds):
            problems.add(problems.invalid, name, index)
    event_type = event.get("event_type")
    if event_type is None:
        problems.add(problems.missing, "event_type", index)
    elif event_type == "":
        problems.add(problems.invalid, "event_type", index)
    value = event.get("time")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        problems.add(problems.invalid, "time", index)
    has_id, short = False, []
    for name in ("user_id", "device_id"):
        value = event.get(name)
        if not isinstance(value, str):
            continue  # absent, or already recorded as invalid above
        if value.lower() in INVALID_IDS:
            problems.add(problems.invalid, name, index)
        elif _valid_id(value, min_length):
            has_id = True
        else:
            short.append(name)
    if not has_id and not any(index in problems.invalid.get(n, ()) for n in ("user_id", "device_id")):
        if short:
            for name in short:
                problems.add(problems.id_lengths, name, index)
        else:
            problems.add(problems.missing, "user_id", index)
            problems.add(problems.missing, "device_id", index)


def _put_properties(event: dict[str, Any], row: dict[str, Any], allowed: dict[str, bool], install_id: str) -> int:
    """Put the event's user and event properties its type allows into `row` (a column of their own, or
    `properties`); return how many were dropped."""
    dropped = 0
    properties: dict[str, Any] = {}
    for container in ("user_properties", "event_properties"):
        for name, value in (event.get(container) or {}).items():
            if value is None or (name == "install_id" and value == install_id):
                continue  # our own SDK repeats the install id in user_properties: the same value, not a drop
            column = allowed.get(name)
            if column is None:
                converted = None
            elif type(value) is str and name in _TEXT:  # most properties: text of a text field, as it is
                converted = value
            else:
                converted = mapping.catalogue_value(name, value)
            if converted is None:
                dropped += 1
            elif column:
                row[name] = converted
            else:
                properties[name] = converted
    if properties:
        row["properties"] = properties
    return dropped


def _map_event(event: dict[str, Any], min_length: int, now_ms: int,
               model_names: blindai.ModelNames | None) -> blindai.Mapped:
    """One valid Amplitude event as a row (None when it is not a catalogue event)."""
    event_type = event["event_type"]
    if event_type in blindai.ORIGINAL_EVENT_TYPES:  # era A: an original server's event
        mapped = blindai.map_event(event, model_names=model_names)
        if mapped.row is not None:
            mapped.row["source"] = SOURCE  # `source` names the endpoint it came in by
        return mapped
    if event_type not in catalogue.EVENTS:
        return blindai.Mapped(row=None)
    user_id, device_id = event.get("user_id"), event.get("device_id")
    user_id = user_id if isinstance(user_id, str) and _valid_id(user_id, min_length) else None
    device_id = device_id if isinstance(device_id, str) and _valid_id(device_id, min_length) else None
    install_id = user_id or device_id
    if install_id is None:  # _check_event refuses such events; kept so that a change there cannot store one
        raise mapping.EventError("user_id", "the event has no valid user_id or device_id")
    sent_time = event.get("time")
    row: dict[str, Any] = {"event": event_type, "install_id": install_id, "source": SOURCE}
    row["time"] = now_ms if sent_time is None else mapping.time_ms(sent_time)
    dropped = 0
    for name, value in event.items():
        if value is None or name in _ENVELOPE:
            continue
        target = _STANDARD_MAPPED.get(name)
        if target is not None and (converted := mapping.catalogue_value(target, value)) is not None:
            row[target] = converted
        else:
            dropped += 1
    session = event.get("session_id")
    if session is not None and session != -1:  # Amplitude: -1 means no session
        row["session_id"] = str(session)
    dropped += _put_properties(event, row, _ALLOWED[event_type], install_id)
    insert_id = event.get("insert_id")
    if insert_id is not None:
        # Amplitude's dedup scope: the device when the event has one, else the user.
        row["event_id"] = mapping.insert_id_key(device_id or install_id, insert_id)
        return blindai.Mapped(row=row, dropped_fields=dropped)
    material = {**row, "time": sent_time}  # the time as sent, so that a replay gets the same id
    row["event_id"] = mapping.content_id(material)
    return blindai.Mapped(row=row, dropped_fields=dropped, id_material=material)


def api_key_of(payload: Any) -> str | None:
    """The request's `api_key`, for a route that checks write keys (Amplitude's SDKs cannot set headers)."""
    key = payload.get("api_key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) and key else None


def decode(payload: Any, *, model_name_key: bytes | None = None) -> Decoded:
    """Decode an Amplitude HTTP V2 body; raise `FormatError` with Amplitude's 400 body when it would refuse it."""
    if not isinstance(payload, dict):
        raise _request_error("Invalid JSON request body")
    if api_key_of(payload) is None:
        raise _request_error("Request missing required field", "api_key")
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        raise _request_error("Request missing required field", "events")
    options = payload.get("options")
    min_length = DEFAULT_MIN_ID_LENGTH
    if options is not None:
        value = options.get("min_id_length") if isinstance(options, dict) else "not an object"
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _request_error("Invalid field values: options.min_id_length must be a positive integer")
            min_length = value

    problems = _Problems()
    for index, event in enumerate(events):
        _check_event(event, index, min_length, problems)
    if problems:
        raise problems.error()

    model_names = blindai.ModelNames(model_name_key) if model_name_key else None
    now_ms = int(time.time() * 1000)
    decoded = Decoded()
    material: dict[int, Any] = {}
    for index, event in enumerate(events):
        try:
            mapped = _map_event(event, min_length, now_ms, model_names)
        except mapping.EventError as exc:
            problems.add(problems.invalid, exc.field, index)
            continue
        decoded.dropped_fields += mapped.dropped_fields
        if mapped.row is None:
            decoded.dropped_events[UNKNOWN_EVENT] += 1
            continue
        if mapped.id_material is not None:
            material[len(decoded.rows)] = mapped.id_material
        decoded.rows.append(mapped.row)
    if problems:
        raise problems.error()
    mapping.disambiguate(decoded.rows, material)
    return decoded


def success_body(events_ingested: int, payload_size_bytes: int) -> dict[str, Any]:
    """Amplitude's 200 SuccessSummary."""
    return {"code": 200, "events_ingested": events_ingested, "payload_size_bytes": payload_size_bytes,
            "server_upload_time": int(time.time() * 1000)}


def too_large_body() -> dict[str, Any]:
    """Amplitude's 413 PayloadTooLargeError (its SDKs then halve the batch and retry)."""
    return {"code": 413, "error": "Payload too large"}


def throttled_body(devices: dict[str, int], *, event_count: int = 0, eps_threshold: int = 1000) -> dict[str, Any]:
    """Amplitude's 429 TooManyRequestsForDeviceError for a refused request of `event_count` events.

    `devices` maps each throttled install id to its current events per second. Every event of the request is
    listed in `throttled_events` because the whole request was refused: Amplitude's SDKs retry the listed
    events after 30 s, but retry unlisted ones at once. The daily-quota maps are empty (there is no daily
    quota), so that the SDKs retry rather than give the events up.
    """
    return {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": eps_threshold,
        "throttled_devices": dict(devices),
        "throttled_users": {},
        "throttled_events": list(range(event_count)),
        "exceeded_daily_quota_devices": {},
        "exceeded_daily_quota_users": {},
    }


class _Amplitude(Format):
    source = SOURCE

    def decode(self, payload: Any, model_name_key: bytes | None) -> Decoded:
        return decode(payload, model_name_key=model_name_key)

    def checked(self, data: bytes, received_at_ms: int) -> tuple[Any, Checked] | None:
        from blindai_telemetry.collector.formats import amplitude_typed  # it reads this module's constants

        return amplitude_typed.checked(data, received_at_ms)

    def error(self, status: int, message: str) -> dict[str, Any]:
        return too_large_body() if status == 413 else {"code": status, "error": message}

    def throttled(self, message: str, installs: Collection[str], rate: float, event_count: int) -> dict[str, Any]:
        return throttled_body(dict.fromkeys(installs, int(rate)), event_count=event_count, eps_threshold=int(rate))

    def offered_key(self, payload: Any, query: Mapping[str, str]) -> str | None:
        return api_key_of(payload)  # Amplitude's SDKs can only send their key in the body

    def answer(self, accepted: int, duplicates: int, dropped_fields: int, dropped: dict[str, int],
               size: int) -> dict[str, Any]:
        # Amplitude counts every event it took, including the ones it deduplicated by insert_id; `dropped` is
        # ours, and Amplitude's SDKs ignore keys they do not know.
        return {**success_body(accepted, size), "dropped": dropped}


FORMAT: Format = _Amplitude()
