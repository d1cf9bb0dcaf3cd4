"""Collector-side scrubbing: refuse free-text values that look like personal data (second line of defence).

The SDK scrubs before sending; the collector checks again with the SDK's own patterns (`_filter.Scrubber`:
e-mail addresses, URLs and paths, IP and MAC addresses, host names) because it also receives from senders it
does not control (Amplitude-format SDKs, old BlindAI servers). A value the scrubber would change is not
trimmed but dropped whole: a half-scrubbed string can still identify someone.
"""

from __future__ import annotations

from blindai_telemetry._filter import REDACTED, Scrubber
from blindai_telemetry.catalogue import MAX_STRING_LENGTH

# The collector's own host and user names say nothing about the sender: only the patterns apply.
_SCRUBBER = Scrubber(host_name="", user_name="")


def looks_personal(value: str) -> bool:
    """True when `value` looks like it carries an address, a host name, a URL or a path (never stored)."""
    # The scrubber also caps the length; compare within the cap (validation caps lengths before this).
    return REDACTED in value or _SCRUBBER(value) != value[:MAX_STRING_LENGTH]
