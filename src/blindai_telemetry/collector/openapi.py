"""JSON Schemas of the request bodies, derived from the catalogue, for the OpenAPI description.

The ingestion routes read their bodies themselves (to enforce size limits and gzip before parsing), so
FastAPI cannot infer them; these schemas describe them instead, so that clients and fuzzers (schemathesis)
know what each endpoint accepts.
"""

from __future__ import annotations

from typing import Any

from blindai_telemetry import catalogue

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _field_schema(f: catalogue.Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _JSON_TYPES[f.type], "description": f.why}
    if f.type is str:
        schema["maxLength"] = catalogue.MAX_STRING_LENGTH
        schema["minLength"] = 1
    if f.choices:
        schema["enum"] = list(f.choices)
    if f.type in (int, float):
        schema["minimum"] = 0
    return schema


def native_batch() -> dict[str, Any]:
    """The native batch of docs/wire-format.md."""
    event: dict[str, Any] = {
        "type": "object",
        "required": ["event_id", "event", "time", "install_id"],
        "properties": {
            "event_id": {"type": "string", "minLength": 1, "maxLength": catalogue.MAX_STRING_LENGTH},
            "event": {"type": "string", "enum": list(catalogue.EVENTS)},
            "time": {"type": "integer", "minimum": 0, "description": "Unix milliseconds"},
            **{f.name: _field_schema(f) for f in catalogue.CONTEXT_FIELDS},
            "properties": {
                "type": "object",
                "properties": {f.name: _field_schema(f) for f in (*catalogue.PROPERTY_FIELDS,
                                                                   *catalogue.CLIENT_FIELDS)},
            },
        },
    }
    return {
        "type": "object",
        "required": ["events"],
        "properties": {
            "schema_version": {"type": "integer", "minimum": 1},
            "sent_at": {"type": "integer", "minimum": 0},
            "dropped": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "events": {"type": "array", "items": event, "maxItems": 2000},
        },
    }


def _amplitude_event() -> dict[str, Any]:
    text = {"type": "string", "maxLength": 1024}
    return {
        "type": "object",
        "required": ["event_type"],
        "properties": {
            "event_type": text, "user_id": text, "device_id": text,
            "time": {"type": "integer", "minimum": 0}, "insert_id": text, "session_id": {"type": "integer"},
            "app_version": text, "platform": text, "os_name": text, "os_version": text,
            "event_properties": {"type": "object"}, "user_properties": {"type": "object"},
        },
    }


def amplitude_batch() -> dict[str, Any]:
    """Amplitude's HTTP V2 request body (the fields the collector reads; others are accepted and ignored)."""
    return {
        "type": "object",
        "required": ["api_key", "events"],
        "properties": {
            "api_key": {"type": "string"},
            "events": {"type": "array", "items": _amplitude_event(), "maxItems": 2000},
            "options": {"type": "object", "properties": {"min_id_length": {"type": "integer", "minimum": 1}}},
        },
    }


def blindai_batch() -> dict[str, Any]:
    """The original BlindAI servers' bare array (RESEARCH.md §1)."""
    variant = {"type": "object", "maxProperties": 1}
    event = {
        "type": "object",
        "required": ["event_type", "user_id", "time"],
        "properties": {
            "user_id": {"type": "string"},
            "event_type": {"type": "string", "enum": ["started", "send_model", "run_model"]},
            "device_id": {"type": "string"},
            "time": {"type": "integer", "minimum": 0, "description": "Unix seconds"},
            "app_version": {"type": "string"},
            "user_properties": {"type": "object"},
            "event_properties": variant,
        },
    }
    return {"type": "array", "items": event, "maxItems": 2000}


def deletion_request() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["install_ids"],
        "properties": {
            "install_ids": {"type": "array", "minItems": 1,
                            "items": {"type": "string", "minLength": 1, "maxLength": catalogue.MAX_STRING_LENGTH}},
        },
    }


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body follows `schema`."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
