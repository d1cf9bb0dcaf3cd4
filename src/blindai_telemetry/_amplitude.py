"""`AmplitudeTransport`: batches straight to Amplitude's HTTP V2 API, as the original BlindAI servers did.

Each event becomes `{event_type, device_id (our install id), insert_id (our event id, which Amplitude uses
to deduplicate retries for 7 days), time (ms), event_properties, user_properties (our context), app_version,
platform, os_name, os_version}`.

IP addresses: we send no `ip` field, and nothing else from which one could be derived (no `location_*`, no
`$remote`). Amplitude's documentation ("HTTP V2 API"; "IP address, location, user agent, and device
properties") describes `ip: "$remote"` as the way to ask it to use the upload request's address, and says it
looks up `[Amplitude] City/Region/Country/DMA` from an event's IP address with MaxMind GeoIP; when SDKs
disable IP tracking, "Amplitude never receives the IP address" and location properties stay empty. What
its documentation does not promise is what happens to the TCP peer address of an upload without `ip`: the
address is necessarily visible to Amplitude's servers as for any HTTPS request. Users for whom that is too
much should point the SDK at a self-hosted collector (`endpoint=`), which never stores or logs it; the
collector's own forwarding to Amplitude is server-side and omits `ip` too (RESEARCH.md §2).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

from blindai_telemetry._http import HttpTransport
from blindai_telemetry._transport import dumps

DEFAULT_SERVER_URL = "https://api2.amplitude.com/2/httpapi"
#: Context fields carried elsewhere in an Amplitude event (not repeated in user_properties).
_TOP_LEVEL = ("event_id", "event", "time", "properties")


class AmplitudeTransport(HttpTransport):
    """POST Amplitude HTTP V2 bodies (`{"api_key", "events"}`), gzip-compressed. 429/5xx retry, 413 split."""

    name: ClassVar[str] = "amplitude"

    def __init__(self, api_key: str, server_url: str = DEFAULT_SERVER_URL) -> None:
        url = urllib.parse.urlsplit(server_url)
        base = urllib.parse.urlunsplit((url.scheme, url.netloc, "", "", ""))
        super().__init__(base)
        self._api_key = api_key
        self._target = url.path or "/2/httpapi"
        # Shown in the transparency log, `status`, delivery.json and the once-per-cause warning: as HttpTransport
        # does, never with credentials someone put in the URL (a proxy's user:password), nor its query.
        self.endpoint = urllib.parse.urlunsplit((url.scheme, url.netloc.rpartition("@")[2], url.path, "", ""))

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        headers["Accept"] = "*/*"
        return headers

    def encode(self, batch: Mapping[str, Any]) -> bytes:
        return dumps({"api_key": self._api_key, "events": [to_amplitude(e) for e in batch.get("events", [])]})


def to_amplitude(event: Mapping[str, Any]) -> dict[str, Any]:
    context = {k: v for k, v in event.items() if k not in _TOP_LEVEL}
    out: dict[str, Any] = {
        "event_type": event["event"],
        "device_id": event.get("install_id", ""),  # a UUID: always past Amplitude's 5-character minimum
        "insert_id": event["event_id"],
        "time": event["time"],
        "event_properties": dict(event.get("properties", {})),
        "user_properties": context,
        "app_version": event.get("app_version"),
        "platform": "Python",
        "os_name": event.get("os_name"),
        "os_version": event.get("os_release"),
    }
    return {k: v for k, v in out.items() if v is not None}
