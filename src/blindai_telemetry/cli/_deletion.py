"""Asks a collector to delete an install's events (`POST /v1/deletions`) and waits, bounded, until it is done.

Standard library only (urllib), so that `blindai-telemetry delete-my-data` works with the SDK alone installed.
Every failure becomes a `DeletionError` carrying a message for the user and what they can do about it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from blindai_telemetry import __version__
from blindai_telemetry import environment_variables as ev

#: Without an admin token the collector lets an install delete a short list of its own ids (the random ids are
#: the capability); a longer history of resets is sent in chunks of this size.
IDS_PER_REQUEST = 10

_USER_AGENT = f"blindai-telemetry-cli/{__version__}"


class DeletionError(Exception):
    """A deletion that could not be requested or confirmed: `message` says what happened, `hint` what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class DeletionResult:
    """The collector's final answer for one deletion request."""

    id: str
    status: str
    install_ids: list[str]
    response: dict[str, Any] = field(default_factory=dict)


def normalise_endpoint(endpoint: str) -> str:
    """The collector's base URL without a trailing slash; refuses anything but http(s) URLs."""
    parsed = urllib.parse.urlsplit(endpoint.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise DeletionError(
            f"{endpoint!r} is not a collector URL.",
            "Give the collector's base URL, e.g. --endpoint https://telemetry.example.org",
        )
    return endpoint.strip().rstrip("/")


_UNREACHABLE_HINT = (
    "Nothing was deleted. Try again later. If the collector moved, pass --endpoint URL or set "
    f"{ev.BLINDAI_TELEMETRY_ENDPOINT}; or contact the collector's operator with your install ids "
    "(`blindai-telemetry id`)."
)


@dataclass
class _Answer:
    status: int
    body: dict[str, Any]
    retry_after: float | None = None


def _request(method: str, url: str, body: dict[str, Any] | None, timeout: float) -> _Answer:
    """One HTTP exchange; returns any HTTP answer, raises DeletionError when there is none."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("User-Agent", _USER_AGENT)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=max(timeout, 0.1)) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:  # an HTTP answer, just not a 2xx: the caller explains it
        status, raw, headers = error.code, error.read(), error.headers
        error.close()
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DeletionError(f"Could not reach the collector at {url}: {reason}.", _UNREACHABLE_HINT) from None
    try:
        decoded = json.loads(raw) if raw else {}
    except ValueError:
        decoded = {}
    try:
        retry_after: float | None = float(headers.get("Retry-After", ""))
    except ValueError:
        retry_after = None
    return _Answer(status, decoded if isinstance(decoded, dict) else {}, retry_after)


def _refused(status: int, answer: dict[str, Any], url: str) -> DeletionError:
    detail = answer.get("detail") or answer.get("error") or ""
    detail_text = f" ({detail})" if detail else ""
    if status in (401, 403):
        return DeletionError(
            f"The collector at {url} refused the request{detail_text}.",
            "This collector only accepts deletions from its operators. Contact them with your install ids "
            "(`blindai-telemetry id`).",
        )
    if status in (404, 405, 501):  # no such route or method: some other web server
        return DeletionError(
            f"{url} answered HTTP {status}: it does not look like a BlindAI Telemetry collector.",
            f"Check the URL (--endpoint or {ev.BLINDAI_TELEMETRY_ENDPOINT}).",
        )
    if status == 429:
        return DeletionError(f"The collector at {url} is busy (429){detail_text}.", "Try again in a minute.")
    if status >= 500:
        return DeletionError(f"The collector at {url} failed (HTTP {status}).", _UNREACHABLE_HINT)
    return DeletionError(f"The collector at {url} refused the request (HTTP {status}){detail_text}.")


def request_deletion(endpoint: str, install_ids: Sequence[str], deadline: float) -> str:
    """`POST {endpoint}/v1/deletions`; returns the deletion id the collector assigned. A 429 is retried after
    its `Retry-After` when that still fits before `deadline` (self-service deletions share one rate limit)."""
    url = f"{endpoint}/v1/deletions"
    while True:
        answer = _request("POST", url, {"install_ids": list(install_ids)}, _remaining(deadline))
        wait = answer.retry_after
        if answer.status == 429 and wait is not None and time.monotonic() + wait < deadline:
            time.sleep(wait)
            continue
        break
    deletion_id = answer.body.get("id")
    if answer.status not in (200, 202) or not isinstance(deletion_id, str):
        raise _refused(answer.status, answer.body, url) if answer.status >= 300 else DeletionError(
            f"The collector at {url} answered HTTP {answer.status} without a deletion id."
        )
    return deletion_id


def deletion_status(endpoint: str, deletion_id: str, timeout: float) -> dict[str, Any]:
    """`GET {endpoint}/v1/deletions/{id}`: the collector's record of one deletion."""
    url = f"{endpoint}/v1/deletions/{urllib.parse.quote(deletion_id, safe='')}"
    answer = _request("GET", url, None, timeout)
    if answer.status != 200:
        raise _refused(answer.status, answer.body, url)
    return answer.body


def delete_installs(
    endpoint: str,
    install_ids: Sequence[str],
    timeout: float,
    on_requested: Callable[[str, list[str]], None] = lambda _id, _ids: None,
) -> list[DeletionResult]:
    """Ask `endpoint` to delete every event of `install_ids` and wait until each request is `done`.

    `timeout` bounds the whole exchange (requests and polling). Raises DeletionError when the collector cannot
    be reached, refuses, or has not finished within the timeout (the request then stays queued there).
    """
    endpoint = normalise_endpoint(endpoint)
    deadline = time.monotonic() + timeout
    requested: list[tuple[str, list[str]]] = []
    for start in range(0, len(install_ids), IDS_PER_REQUEST):
        chunk = list(install_ids[start : start + IDS_PER_REQUEST])
        deletion_id = request_deletion(endpoint, chunk, deadline)
        on_requested(deletion_id, chunk)
        requested.append((deletion_id, chunk))

    results: list[DeletionResult] = []
    for deletion_id, chunk in requested:
        # Poll quickly at first (a small deletion takes milliseconds), then back off to one request a second.
        interval = 0.05
        while True:
            answer = deletion_status(endpoint, deletion_id, _remaining(deadline))
            status = str(answer.get("status", ""))
            if status == "done":
                results.append(DeletionResult(deletion_id, status, chunk, answer))
                break
            if status not in ("pending", "running"):
                raise DeletionError(f"The collector reports deletion {deletion_id} as {status!r}.")
            if time.monotonic() + interval > deadline:
                raise DeletionError(
                    f"Deletion {deletion_id} was accepted but is not done after {timeout:g} s.",
                    f"The collector will carry it out; check with GET {endpoint}/v1/deletions/{deletion_id}, "
                    "or run this command again with a longer --timeout.",
                )
            time.sleep(interval)
            interval = min(interval * 2, 1.0)
    return results


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.1)
