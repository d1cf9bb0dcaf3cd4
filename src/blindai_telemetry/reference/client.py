"""The reference client: `connect(url)` → `Client` with `upload_model`, `run_model`, `delete_model`, `close`.

Like BlindAI's Python client it attaches the caller's anonymous facts to every request (`ClientInfo`, sent as
JSON in the `X-BlindAI-Client` header) so the server's events say which client versions and platforms use it.
Unlike the original, those facts hold no hash of host or user names — and they are only sent while this
client's own telemetry is enabled: a user who opted out on the client machine is not reported by the server.
The client reports `client_connected` through its own SDK instance (app `blindai-client`), so it honours the
same opt-outs as everything else.
"""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from blindai_telemetry import Telemetry, __version__
from blindai_telemetry.reference.server import CLIENT_HEADER

USER_AGENT = "blindai-python"

#: A tensor the client accepts: a numpy array (sent as .npy, exact dtype) or nested lists of numbers (JSON).
Tensor = Any


class ServerError(Exception):
    """The server refused a request: `status` is the HTTP status, `kind` the server's error word."""

    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(f"{status} {kind}: {detail}")
        self.status = status
        self.kind = kind
        self.detail = detail


def _encode(tensor: Tensor) -> Any:
    if isinstance(tensor, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, tensor, allow_pickle=False)
        return {"npy": base64.b64encode(buffer.getvalue()).decode("ascii")}
    return tensor


def _decode(value: Any) -> np.ndarray:
    if isinstance(value, dict) and "npy" in value:
        return np.asarray(np.load(io.BytesIO(base64.b64decode(value["npy"])), allow_pickle=False))
    return np.asarray(value)


class Client:
    """A connection to one reference server. Use `connect()` to make one; close it (or use `with`)."""

    def __init__(self, url: str, telemetry: Telemetry, *, owns_telemetry: bool, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.telemetry = telemetry
        self._owns_telemetry = owns_telemetry
        headers = {"User-Agent": f"{USER_AGENT}/{__version__}"}
        info = telemetry.client_info() if telemetry.install_id is not None else None
        if info is not None:
            headers[CLIENT_HEADER] = json.dumps(info.to_dict(), separators=(",", ":"))
        # Small, latency-sensitive requests: no Nagle delay on the client's writes (the server side sets it too).
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, trust_env=False,
                                  transport=transport)
        #: What the server says about itself at connection time: {"server", "version", "mode"}.
        self.server_info: dict[str, Any] = {}

    def _check(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            return body
        if isinstance(body, dict):
            raise ServerError(response.status_code, str(body.get("error", "internal")), str(body.get("detail", "")))
        raise ServerError(response.status_code, "internal", response.text[:200])

    def _handshake(self) -> None:
        self.server_info = self._check(self._http.get("/"))
        self.telemetry.track("client_connected")

    def upload_model(self, model: bytes | str | Path, name: str | None = None) -> str:
        """Upload an ONNX model (its bytes, or a path to read) and return the id the server gave it."""
        data = model if isinstance(model, bytes) else Path(model).read_bytes()
        params = {"name": name} if name else None
        response = self._http.post("/models", content=data, params=params,
                                   headers={"Content-Type": "application/octet-stream"})
        return str(self._check(response)["model_id"])

    def run_model(self, model_id: str, inputs: Mapping[str, Tensor] | Sequence[Tensor] | np.ndarray,
                  ) -> dict[str, np.ndarray]:
        """Run a model: `inputs` by input name, in input order, or one array for a one-input model.
        Returns the outputs by name."""
        if isinstance(inputs, np.ndarray):
            payload: Any = [_encode(inputs)]
        elif isinstance(inputs, Mapping):
            payload = {name: _encode(value) for name, value in inputs.items()}
        else:
            payload = [_encode(value) for value in inputs]
        response = self._http.post(f"/models/{quote(model_id, safe='')}/run",
                                   json={"inputs": payload, "output_format": "npy"})
        outputs = self._check(response)["outputs"]
        return {name: _decode(value) for name, value in outputs.items()}

    def delete_model(self, model_id: str) -> None:
        """Delete a model from the server."""
        self._check(self._http.delete(f"/models/{quote(model_id, safe='')}"))

    def close(self, telemetry_timeout: float = 1.0) -> None:
        """Close the connection, and shut down the client's telemetry if `connect()` made it."""
        self._http.close()
        if self._owns_telemetry:
            self.telemetry.shutdown(timeout=telemetry_timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def client_telemetry(
    endpoint: str | None = None, config_dir: str | Path | None = None, version: str = __version__, **options: Any,
) -> Telemetry:
    """The SDK instance a reference client reports through (app `blindai-client`)."""
    return Telemetry(app="blindai-client", app_version=version, endpoint=endpoint, config_dir=config_dir,
                     **options)


def connect(
    url: str,
    *,
    telemetry: Telemetry | None = None,
    endpoint: str | None = None,
    config_dir: str | Path | None = None,
    timeout: float = 30.0,
) -> Client:
    """Connect to a reference server at `url`; raises `httpx.HTTPError` when it cannot be reached.

    Without `telemetry`, the client makes its own SDK instance (reporting to `endpoint`, keeping its install id
    in `config_dir`) and shuts it down on `close()`.
    """
    owns = telemetry is None
    telemetry = telemetry or client_telemetry(endpoint, config_dir)
    client = Client(url, telemetry, owns_telemetry=owns, timeout=timeout)
    try:
        client._handshake()
    except BaseException:
        client.close(telemetry_timeout=0.1)
        raise
    return client
