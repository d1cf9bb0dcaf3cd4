"""The reference server's inference: an uploaded ONNX model loaded into onnxruntime, and a run request decoded,
run and encoded, off the event loop. Every failure a client should see is a `RequestFailed` of one
`catalogue.ERROR_KINDS` word; `server` answers and tracks it.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from blindai_telemetry.reference._onnxruntime import ort

#: ONNX tensor element types the server accepts as inputs, as onnxruntime names them.
_ORT_DTYPES: dict[str, np.dtype[Any]] = {
    "tensor(float)": np.dtype(np.float32), "tensor(double)": np.dtype(np.float64),
    "tensor(float16)": np.dtype(np.float16), "tensor(int8)": np.dtype(np.int8), "tensor(int16)": np.dtype(np.int16),
    "tensor(int32)": np.dtype(np.int32), "tensor(int64)": np.dtype(np.int64), "tensor(uint8)": np.dtype(np.uint8),
    "tensor(bool)": np.dtype(np.bool_),
}


class RequestFailed(Exception):
    """A request failed for a reason the client should see: `kind` is one of catalogue.ERROR_KINDS."""

    STATUS: ClassVar[dict[str, int]] = {
        "invalid_model": 400, "invalid_input": 400, "model_not_found": 404, "too_large": 413, "internal": 500,
    }

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Model:
    name: str | None
    session: ort.InferenceSession
    inputs: tuple[tuple[str, np.dtype[Any]], ...]


def session_options() -> ort.SessionOptions:
    # One thread per inference, and no spinning: concurrency comes from the server's worker pool, and
    # onnxruntime's default spin-waiting threads would burn the cores other requests (and telemetry) need.
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: a bad upload is answered and tracked, not logged as a warning
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def load_model(name: str | None, data: bytes) -> Model:
    try:
        session = ort.InferenceSession(data, sess_options=session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several types for a bad graph; all mean one thing
        raise RequestFailed("invalid_model", "the body is not an ONNX model onnxruntime can load") from exc
    inputs = []
    for meta in session.get_inputs():
        dtype = _ORT_DTYPES.get(meta.type)
        if dtype is None:
            raise RequestFailed("invalid_model", f"input {meta.name!r} has an unsupported type {meta.type}")
        inputs.append((meta.name, dtype))
    return Model(name, session, tuple(inputs))


def decode_tensor(value: Any, dtype: np.dtype[Any]) -> np.ndarray:
    if isinstance(value, Mapping) and "npy" in value:
        try:
            value = np.load(io.BytesIO(base64.b64decode(value["npy"], validate=True)), allow_pickle=False)
        except (TypeError, ValueError, binascii.Error, OSError) as exc:
            raise RequestFailed("invalid_input", "an input's npy field is not a base64 .npy array") from exc
    try:
        # A value the input type cannot hold (1e40 as float32) is the caller's mistake, not an inf to compute on.
        with np.errstate(all="raise"):
            return np.asarray(value, dtype=dtype)
    except (FloatingPointError, OverflowError) as exc:
        raise RequestFailed("invalid_input", f"an input value does not fit the model's type {dtype}") from exc
    except (TypeError, ValueError) as exc:
        raise RequestFailed("invalid_input", "an input is not a rectangular array of numbers") from exc


def encode_tensor(array: np.ndarray, output_format: str) -> Any:
    if output_format == "npy":
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return {"npy": base64.b64encode(buffer.getvalue()).decode("ascii")}
    return array.tolist()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def run(model: Model, body: bytes) -> tuple[bytes, int]:
    """Decode a run request, run the model, encode the response (all off the event loop); returns
    (the JSON response body, input bytes)."""
    try:
        # Strict JSON: Python's parser would take NaN and Infinity, which no other JSON reader sends or reads.
        request = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:
        raise RequestFailed("invalid_input", "the body is not JSON") from exc
    raw = request.get("inputs") if isinstance(request, dict) else None
    output_format = request.get("output_format", "json") if isinstance(request, dict) else "json"
    if output_format not in ("json", "npy"):
        raise RequestFailed("invalid_input", "output_format must be 'json' or 'npy'")
    if isinstance(raw, list):
        if len(raw) != len(model.inputs):
            raise RequestFailed("invalid_input", f"the model takes {len(model.inputs)} inputs, got {len(raw)}")
        raw = {name: value for (name, _), value in zip(model.inputs, raw, strict=True)}
    if not isinstance(raw, dict):
        raise RequestFailed("invalid_input", "'inputs' must be an object by input name or a list")
    feeds: dict[str, np.ndarray] = {}
    for name, dtype in model.inputs:
        if name not in raw:
            raise RequestFailed("invalid_input", f"missing input {name!r}")
        feeds[name] = decode_tensor(raw[name], dtype)
    input_bytes = sum(int(a.nbytes) for a in feeds.values())
    try:
        results = model.session.run(None, feeds)
    except Exception as exc:  # onnxruntime reports a wrong shape or rank as a generic failure
        raise RequestFailed("invalid_input", "the inputs do not fit the model's input shapes") from exc
    names = [o.name for o in model.session.get_outputs()]
    outputs = {n: encode_tensor(np.asarray(r), output_format) for n, r in zip(names, results, strict=True)}
    try:
        return json.dumps({"outputs": outputs}, allow_nan=False, separators=(",", ":")).encode(), input_bytes
    except ValueError as exc:
        raise RequestFailed("invalid_input", "the outputs hold NaN or infinity, which JSON cannot carry: "
                            "ask for output_format 'npy'") from exc
