"""A BlindAI-style inference server (simulation only: no enclave), instrumented with the SDK as BlindAI would be.

HTTP API (JSON errors `{"error": <error_kind>, "detail": <text>}`):
- `GET /` → `{"server": "blindai-reference", "version", "mode"}`; `GET /healthz` → `{"ok": true}`.
- `POST /models?name=NAME` with the ONNX bytes as the body → `201 {"model_id", "name"}`.
- `POST /models/{model_id}/run` with `{"inputs": {name: tensor} | [tensor, ...], "output_format": "json"|"npy"}`,
  a tensor being nested JSON lists (cast to the model's input type) or `{"npy": <base64 of a .npy file>}`
  → `{"outputs": {name: tensor}}`.
- `DELETE /models/{model_id}` → `{"deleted": model_id}`.

Every request event carries the calling client's anonymous facts, sent by the reference client in the
`X-BlindAI-Client` header (`ClientInfo.to_dict()` as JSON) and rebuilt with `ClientInfo.from_dict`, which drops
anything it does not know. A failed request is tracked with `ok=False` and one `error_kind` word, never a message.
`track()` only enqueues, so telemetry adds no latency to a request; inference runs in a bounded thread pool.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from blindai_telemetry import ClientInfo, Telemetry, __version__
from blindai_telemetry.reference import inference
from blindai_telemetry.reference.inference import Model, RequestFailed

logger = logging.getLogger(__name__)

CLIENT_HEADER = "X-BlindAI-Client"
#: A ClientInfo is six short strings; anything longer is not one of ours and is ignored unread.
_MAX_CLIENT_HEADER = 4096

@dataclass(frozen=True)
class ServerLimits:
    """Request limits; a request beyond one is refused with 413 and tracked as `too_large`."""

    max_model_bytes: int = 50_000_000
    #: Size of a run request's body as sent (JSON lists are ~3× the tensor bytes, .npy ~1.3×).
    max_input_bytes: int = 10_000_000
    #: Models held at once (they live in memory); one more upload is refused as `too_large`.
    max_models: int = 100
    #: Inferences running at once; further requests wait for a slot without blocking the event loop.
    max_workers: int = 4


def _parse_client_header(header: str) -> ClientInfo | None:
    try:
        data = json.loads(header)
    except ValueError:
        return None
    return ClientInfo.from_dict(data) if isinstance(data, dict) else None


#: Parsed client headers. A client sends the same header with every request, so parsing it once per client
#: takes the JSON decoding off the request path; the bound keeps junk headers from growing it without end.
_CLIENT_CACHE_SIZE = 1024
_client_cache: dict[str, ClientInfo | None] = {}


def _client_info(request: Request) -> ClientInfo | None:
    """The calling client's anonymous facts, or None when it sent none (or junk)."""
    header = request.headers.get(CLIENT_HEADER)
    if not header or len(header) > _MAX_CLIENT_HEADER:
        return None
    try:
        return _client_cache[header]
    except KeyError:
        pass
    if len(_client_cache) >= _CLIENT_CACHE_SIZE:
        _client_cache.clear()
    info = _client_cache[header] = _parse_client_header(header)
    return info


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as `too_large` as soon as it passes `limit` (without reading the rest)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestFailed("too_large", f"the body is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestFailed("too_large", f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _track(telemetry: Telemetry, event: str, client: ClientInfo | None, **properties: Any) -> None:
    # A property that does not apply (no model name given, no error) is left out rather than sent as null.
    telemetry.track(event, client=client, **{k: v for k, v in properties.items() if v is not None})


def _error(failure: RequestFailed) -> JSONResponse:
    return JSONResponse({"error": failure.kind, "detail": failure.detail}, status_code=failure.STATUS[failure.kind])


def _as_failure(exc: Exception) -> RequestFailed:
    """What to answer and track for an exception raised while handling a request."""
    if isinstance(exc, RequestFailed):
        return exc
    # A bug or a client that hung up mid-body: logged here, in the server's own log, and tracked as the one
    # word `internal` — the exception's text can carry request data, so it never reaches telemetry.
    logger.error("request failed", exc_info=exc)
    return RequestFailed("internal", "the server could not handle the request")


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


class _InferenceService:
    """The server's state (its models, its inference pool) and one method per endpoint. Every request event is
    tracked through `telemetry`, which the service never shuts down."""

    def __init__(self, telemetry: Telemetry, mode: str, version: str, limits: ServerLimits) -> None:
        self.telemetry, self.mode, self.version, self.limits = telemetry, mode, version, limits
        self.models: dict[str, Model] = {}
        self.pool = anyio.CapacityLimiter(limits.max_workers)
        # A server whose telemetry is off has no use for its callers' facts: it does not even read them.
        self.reporting = telemetry.install_id is not None

    def client_facts(self, request: Request) -> ClientInfo | None:
        return _client_info(request) if self.reporting else None

    async def info(self, request: Request) -> JSONResponse:
        return JSONResponse({"server": "blindai-reference", "version": self.version, "mode": self.mode})

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def upload(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        client = self.client_facts(request)
        name = request.query_params.get("name") or None
        size = 0
        try:
            if len(self.models) >= self.limits.max_models:
                raise RequestFailed("too_large", f"the server already holds {self.limits.max_models} models")
            data = await _read_body(request, self.limits.max_model_bytes)
            size = len(data)
            model = await anyio.to_thread.run_sync(inference.load_model, name, data, limiter=self.pool)
        except Exception as exc:  # noqa: BLE001 - the request seam: every failure is answered and tracked
            failure = _as_failure(exc)
            _track(self.telemetry, "model_uploaded", client, model_name=name, model_size_bytes=size,
                   duration_ms=_elapsed_ms(started), ok=False, error_kind=failure.kind)
            return _error(failure)
        model_id = str(uuid.uuid4())
        self.models[model_id] = model
        _track(self.telemetry, "model_uploaded", client, model_name=name, model_size_bytes=size,
               duration_ms=_elapsed_ms(started), ok=True)
        return JSONResponse({"model_id": model_id, "name": name}, status_code=201)

    async def run(self, request: Request) -> Response:
        started = time.perf_counter()
        client = self.client_facts(request)
        model = self.models.get(request.path_params["model_id"])
        input_bytes = 0
        try:
            if model is None:
                raise RequestFailed("model_not_found", "no model has this id")
            body = await _read_body(request, self.limits.max_input_bytes)
            input_bytes = len(body)  # until the tensors are decoded: the size as sent
            result, input_bytes = await anyio.to_thread.run_sync(inference.run, model, body, limiter=self.pool)
        except Exception as exc:  # noqa: BLE001 - the request seam: every failure is answered and tracked
            failure = _as_failure(exc)
            _track(self.telemetry, "model_run", client, model_name=model.name if model else None,
                   duration_ms=_elapsed_ms(started), input_bytes=input_bytes, ok=False, error_kind=failure.kind)
            return _error(failure)
        _track(self.telemetry, "model_run", client, model_name=model.name, duration_ms=_elapsed_ms(started),
               input_bytes=input_bytes, ok=True)
        return Response(result, media_type="application/json")

    async def delete(self, request: Request) -> JSONResponse:
        model_id = request.path_params["model_id"]
        model = self.models.pop(model_id, None)
        if model is None:
            return _error(RequestFailed("model_not_found", "no model has this id"))
        _track(self.telemetry, "model_deleted", self.client_facts(request), model_name=model.name)
        return JSONResponse({"deleted": model_id})

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.telemetry.track("server_started")
        try:
            yield
        finally:
            self.telemetry.track("server_stopped")
            self.models.clear()


def create_server_app(
    telemetry: Telemetry,
    mode: str = "simulation",
    version: str = __version__,
    limits: ServerLimits | None = None,
) -> Starlette:
    """The server as an ASGI app. The caller owns `telemetry` (made with `server_telemetry()`, or any
    `Telemetry`): the app tracks through it and never shuts it down, so events of a stopping server are
    delivered by the owner's `shutdown()`. `mode` and `version` are what `GET /` reports."""
    service = _InferenceService(telemetry, mode, version, limits or ServerLimits())
    return Starlette(
        routes=[
            Route("/", service.info, methods=["GET"]),
            Route("/healthz", service.healthz, methods=["GET"]),
            Route("/models", service.upload, methods=["POST"]),
            Route("/models/{model_id}/run", service.run, methods=["POST"]),
            Route("/models/{model_id}", service.delete, methods=["DELETE"]),
        ],
        lifespan=service.lifespan,
    )


def server_telemetry(
    mode: str = "simulation",
    version: str = __version__,
    endpoint: str | None = None,
    config_dir: str | Path | None = None,
    **options: Any,
) -> Telemetry:
    """The SDK instance a reference server reports through (app `blindai-server`)."""
    return Telemetry(app="blindai-server", app_version=version, endpoint=endpoint, mode=mode,
                     config_dir=config_dir, **options)


def main(argv: list[str] | None = None) -> None:
    """`python -m blindai_telemetry.reference.server`: run one server until SIGINT/SIGTERM."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m blindai_telemetry.reference.server",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--mode", default="simulation", choices=("hardware", "simulation", "dcsv3"))
    parser.add_argument("--version", default=__version__, help="the server version to report")
    parser.add_argument("--endpoint", default=None,
                        help="collector URL; BLINDAI_TELEMETRY_ENDPOINT overrides it; with neither, nothing is sent")
    parser.add_argument("--config-dir", default=None, help="telemetry config dir (its own install id)")
    args = parser.parse_args(argv)

    telemetry = server_telemetry(args.mode, args.version, args.endpoint, args.config_dir)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it
    # Nagle and delayed ACKs add ~40 ms to every keep-alive request after the first.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)  # connections made before uvicorn starts accepting wait in the backlog instead of failing
    port = sock.getsockname()[1]
    app = create_server_app(telemetry, mode=args.mode, version=args.version)
    # No access log and no proxy headers: nothing that carries a client address is logged or trusted.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                                           server_header=False, date_header=False, lifespan="on"))
    # One line on stdout once bound: how scripts and tests learn the port when they asked for 0.
    print(f"blindai-reference listening on http://{args.host}:{port}", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled once it has shut down: a normal, clean exit
    finally:
        sock.close()
        telemetry.shutdown()  # bounded by the SDK's shutdown_timeout (1 s) whatever the collector does


if __name__ == "__main__":
    main()
