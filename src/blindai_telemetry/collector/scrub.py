"""Collector-side scrubbing: refuse free-text values that look like personal data (second line of defence).

The SDK scrubs before sending; the collector checks again with the SDK's own patterns (`privacy.Scrubber`:
e-mail addresses, URLs and paths, IP and MAC addresses, host names, secrets and card numbers) because it also
receives from senders it does not control (Amplitude-format SDKs, old BlindAI servers). A value the scrubber
would change is not trimmed but dropped whole: a half-scrubbed string can still identify someone.
"""

from __future__ import annotations

import re

from blindai_telemetry.catalogue import MAX_STRING_LENGTH
from blindai_telemetry.privacy import CONTROL_CHARACTERS, ID_PATTERNS, REDACTED, Scrubber

# The collector's own host and user names say nothing about the sender: only the patterns apply.
_SCRUBBER = Scrubber(host_name="", user_name="")
#: A UUID (what the SDK sends for every id, and what the other formats' decoders make) carries nothing personal:
#: hex digits and dashes only. Checked first, as it is the usual case and far cheaper than the patterns.
#: (Both cases in the classes: `re.IGNORECASE` made each check 2.5 times slower, on every id and text field.)
is_uuid = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").fullmatch


def looks_personal(value: str) -> bool:
    """True when `value` looks like it carries an address, a host name, a URL, a path or a secret, or holds a
    control character (never stored: it would reach an operator's terminal or reorder what the dashboard shows)."""
    # The scrubber also caps the length; compare within the cap (validation caps lengths before this).
    if REDACTED in value or CONTROL_CHARACTERS.search(value) is not None:
        return True
    return _SCRUBBER(value) != value[:MAX_STRING_LENGTH]


def id_looks_personal(value: str) -> bool:
    """True when an identifier (install, event or session id) holds an address, a host name, a URL, a path or a
    known key shape: an Amplitude sender's `user_id` is often an e-mail address. A random id may look like a
    base64 key or a card number, so those two shapes are not held against identifiers."""
    if is_uuid(value):
        return False
    return CONTROL_CHARACTERS.search(value) is not None or any(pattern.search(value) for pattern in ID_PATTERNS)
