"""The privacy filter: small processors, run on the worker, that decide what of an event may leave the process.

Each processor takes the event name and its properties and returns the properties it lets through, counting
what it drops (like structlog's processor chain). The catalogue is the only allow-list; strings are scrubbed
as a second line of defence; model names follow the `raw | hashed | omitted` policy.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import math
import numbers
import re
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from blindai_telemetry import catalogue
from blindai_telemetry._context import ClientInfo

REDACTED = "<redacted>"
MODEL_NAME_POLICIES = ("raw", "hashed", "omitted")

#: Public architectures whose names say nothing about who runs them: they pass as they are under `hashed`.
#: Compared after `normalise_model_name` (lower case, `_`/space → `-`, no `.onnx` suffix).
PUBLIC_MODEL_NAMES = frozenset({
    "resnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide-resnet50",
    "bert", "bert-base-uncased", "bert-base-cased", "bert-large-uncased", "bert-large-cased",
    "distilbert", "distilbert-base-uncased", "roberta", "roberta-base", "albert", "albert-base-v2",
    "gpt2", "gpt2-medium", "gpt2-large", "distilgpt2", "t5-small", "t5-base", "bart", "bart-base",
    "mobilenet", "mobilenetv2", "mobilenetv3", "mobilenet-v2", "mobilenet-v3", "squeezenet", "shufflenet",
    "efficientnet", "efficientnet-b0", "efficientnet-lite4", "vgg16", "vgg19", "alexnet", "googlenet",
    "inception-v3", "densenet121", "vit", "vit-base", "convnext", "regnet",
    "yolov3", "yolov4", "yolov5", "yolov8", "tiny-yolov2", "ssd", "faster-rcnn", "mask-rcnn", "retinanet",
    "unet", "whisper", "whisper-tiny", "whisper-base", "whisper-small", "wav2vec2", "covidnet", "clip",
    "mnist", "lenet", "linear-regression", "logistic-regression",
})

Drops = Counter[str]
_MODEL_NAME_CACHE = 1024
#: A server sees the same few clients again and again: their filtered facts are remembered (per event name).
_CLIENT_CACHE = 1024
Processor = Callable[[str, dict[str, Any]], dict[str, Any]]

# --- scrubber -------------------------------------------------------------------------------------------
# Whole whitespace-delimited tokens holding '@' (e-mail), '/' or '\' (URL, posix or windows path, UNC)
# go: no legitimate catalogue value contains them, and partial redaction would leave pieces behind.
# Every pattern whose match can start inside a run it then fails on starts only where such a run starts (the
# look-behinds): a leftmost match starts there anyway, and trying every position of a long run made the scan
# quadratic — 0.2-0.5 ms for one hostile 200-character value, seconds for a batch of them at the collector.
_TOKEN_WITH_SEPARATOR = re.compile(r"(?<!\S)\S*[@/\\]\S*")
_MAC = re.compile(r"\b[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}\b", re.IGNORECASE)
# Any run of hex digits, dots and colons with two colons or more is an IPv6 address (or close enough to
# one, like a MAC address or a time of day): redacted without trying to validate it.
_COLON_RUN = re.compile(r"(?<![0-9a-f.:])[0-9a-f.:]*:[0-9a-f.]*:[0-9a-f.:]*", re.IGNORECASE)
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
# A dotted name ending in a letters-only (or punycode) top-level label: "db1.corp.example.com", "a.io".
# Versions ("5.15.0-1034-azure", "3.11.7") end in digits and pass. It starts only where a chain of labels
# starts (not after "x."): any name found from a later label is found from there, labels of any length.
_HOST_NAME = re.compile(
    r"(?<![a-z0-9_-])(?<![a-z0-9_-]\.)(?:[a-z0-9_-]+\.)+(?:xn--[a-z0-9-]{1,59}|[a-z]{2,63})(?![a-z0-9-])",
    re.IGNORECASE,
)
# Secrets pasted where a name was expected (a key in an error string, a token as a version): known key shapes
# (AWS access key ids, OpenAI/Stripe `sk-`/`sk_`, GitHub `ghp_`…, GitLab, Slack `xox?-`, Google `AIza`), JWTs,
# and an `Authorization` scheme with what follows it. Separate patterns: one alternation of them all is slower
# than the sum, as each alternative's literal prefix no longer speeds up the search.
_KEY_SHAPES = (
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{12,}"),
    re.compile(r"\b[spr]k[-_][A-Za-z0-9_-]{16,}"),
    re.compile(r"\b(?:gh[pousr]|github_pat|glpat|xox[abprs])[_-][A-Za-z0-9_-]{10,}"),
    re.compile(r"\bAIza[A-Za-z0-9_-]{20,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?"),
    re.compile(r"\b(?:bearer|basic|digest|token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
)
# `password=…`, `api_key: …` and the like: only searched in a value holding '=' or ':' (it costs the most).
_KEY_VALUE = re.compile(
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth)[\w-]*\s*[=:]\s*\S+", re.IGNORECASE)
# Any unbroken run of 20+ characters mixing upper case, lower case and digits: a base64/base62 key. UUIDs and
# hex hashes (one case), versions (dotted) and hyphenated names ("ResNet50-ImageNet-v2") pass.
_HIGH_ENTROPY = re.compile(
    r"(?<![A-Za-z0-9+=])(?=[A-Za-z0-9+=]*[A-Z])(?=[A-Za-z0-9+=]*[a-z])(?=[A-Za-z0-9+=]*[0-9])[A-Za-z0-9+=]{20,}")
# A payment card number: 14 to 19 digits, maybe grouped by spaces or dashes, that passes the Luhn check (a
# counter of that length fails it nine times out of ten). 13 digits are left alone: Unix ms timestamps, which
# Amplitude senders use as session ids, have 13 digits until the year 2286.
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){13,18}(?![0-9])")


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = int(char)
        if position % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _redact_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return REDACTED if _luhn(digits) else match.group(0)


#: Control characters (C0, DEL, C1) and the bidirectional controls. No catalogue value holds one; the collector
#: stores none (a value with one is dropped), and `report` never prints one: an escape sequence in a stored version
#: would rewrite an operator's terminal, and a right-to-left override makes "1.0" read as another version.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

_ADDRESS_PATTERNS = (_TOKEN_WITH_SEPARATOR, _MAC, _COLON_RUN, _IPV4, _HOST_NAME)
#: What an identifier is held to: a random id may look like a base64 key or a card number, never like these.
ID_PATTERNS = (*_KEY_SHAPES, _KEY_VALUE, *_ADDRESS_PATTERNS)
_SCRUBBERS = (*_KEY_SHAPES, _HIGH_ENTROPY, *_ADDRESS_PATTERNS)
#: Only the start of a long string is scrubbed (and at most MAX_STRING_LENGTH of it is sent).
_SCRUB_WINDOW = 4 * catalogue.MAX_STRING_LENGTH
#: Scrub results remembered per Scrubber: a server sends the same few client facts and versions with every
#: event, and the regexes were ~40 % of the worker's time per event. Only strings up to the cap are kept,
#: and the memo is emptied when full, so it holds at most this many × MAX_STRING_LENGTH characters.
_SCRUB_MEMO = 2048


class Scrubber:
    """Replaces what looks like an address, a name or a path with `<redacted>`, and caps the length.

    The local host name and user name are computed once (on the worker, never on the caller's thread);
    a value equal to either is refused outright, and the host name is redacted wherever it appears.
    """

    def __init__(self, host_name: str | None = None, user_name: str | None = None) -> None:
        self.host_name = (host_name if host_name is not None else _local_host_name()).lower()
        self.user_name = (user_name if user_name is not None else _local_user_name()).lower()
        self._memo: dict[str, str] = {}

    def is_identity(self, value: str) -> bool:
        folded = value.strip().lower()
        return bool(folded) and folded in (self.host_name, self.user_name)

    def __call__(self, value: str) -> str:
        memo = self._memo
        scrubbed = memo.get(value)
        if scrubbed is None:
            scrubbed = self._scrub(value)
            if len(value) <= catalogue.MAX_STRING_LENGTH:
                if len(memo) >= _SCRUB_MEMO:
                    memo.clear()
                memo[value] = scrubbed
        return scrubbed

    def _scrub(self, value: str) -> str:
        if len(value) > _SCRUB_WINDOW:
            # Bound the worker's regex work on huge strings; the token cut in two is dropped, not half sent.
            head = value[:_SCRUB_WINDOW]
            value = head.rsplit(None, 1)[0] + " " + REDACTED if any(c.isspace() for c in head) else REDACTED
        if self.is_identity(value):
            return REDACTED  # the user or host name itself, as an app name or a version: nothing of it is sent
        if "=" in value or ":" in value:
            value = _KEY_VALUE.sub(REDACTED, value)
        for pattern in _SCRUBBERS:
            value = pattern.sub(REDACTED, value)
        value = _CARD.sub(_redact_card, value)
        # The short host name ("gpu-box-7") has no dot for the patterns above to catch; 4+ characters so a
        # one-letter host name cannot redact every word.
        if len(self.host_name) >= 4 and self.host_name in value.lower():
            value = re.sub(re.escape(self.host_name), REDACTED, value, flags=re.IGNORECASE)
        return value[: catalogue.MAX_STRING_LENGTH]


def _local_host_name() -> str:
    try:
        return socket.gethostname().split(".")[0]
    except OSError:
        return ""


def _local_user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - getuser raises OSError, KeyError or ImportError depending on platform and version
        return ""


# --- model names ----------------------------------------------------------------------------------------
def normalise_model_name(name: str) -> str:
    folded = re.sub(r"[\s_]+", "-", name.strip().lower())
    return folded.removesuffix(".onnx")


def hash_model_name(key: str, name: str) -> str:
    """A keyed hash: one install's models can be counted, but not read nor linked to another install's."""
    digest = hmac.new(key.encode("utf-8"), name.encode("utf-8"), hashlib.sha256).hexdigest()
    return "h:" + digest[:16]


# --- identifiers checked against a pattern (catalogue Field.scrub is False) ---------------------------------
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHORT_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}")
_PATTERNS: dict[str, re.Pattern[str]] = {
    "client_install_id": _UUID,
    "client_app_version": _SHORT_WORD,
    "client_os_name": _SHORT_WORD,
    "client_os_release": _SHORT_WORD,
    "client_arch": _SHORT_WORD,
    "client_user_agent": _SHORT_WORD,
}


class PrivacyFilter:
    """The processor chain: known event → allowed properties → types and choices → model name → scrub."""

    def __init__(self, drops: Drops, model_names: str = "hashed", hash_key: str = "",
                 scrubber: Scrubber | None = None) -> None:
        if model_names not in MODEL_NAME_POLICIES:
            raise ValueError(f"model_names must be one of {MODEL_NAME_POLICIES}, not {model_names!r}")
        self.drops = drops
        self.model_names = model_names
        self.hash_key = hash_key
        self.scrubber = scrubber or Scrubber()
        self._model_names: dict[str, str] = {}
        self._clients: dict[tuple[str, object], tuple[dict[str, Any], Drops]] = {}
        self._allowed = {name: catalogue.allowed_properties(name) for name in catalogue.EVENTS}
        self.processors: tuple[Processor, ...] = (
            self.known_values, self.model_name_policy, self.scrub_strings,
        )

    def __call__(self, event: object, properties: Mapping[str, Any], client: object = None) -> dict[str, Any] | None:
        """The properties of `event` that may leave the process, or None when the whole event is dropped."""
        if not isinstance(event, str) or event not in catalogue.EVENTS:
            self.drops["unknown_event"] += 1
            return None
        props = self._process(event, dict(properties))
        if client is not None:
            props.update(self._client(event, client))
        return props

    def _process(self, event: str, props: dict[str, Any]) -> dict[str, Any]:
        for processor in self.processors:
            props = processor(event, props)
        return props

    def _client(self, event: str, client: object) -> dict[str, Any]:
        """The client's facts as `client_*` properties, filtered like the event's own. A `ClientInfo` (frozen:
        its facts cannot change under the cache) is filtered once per event name, and its drops counted again
        on every use, as if it had been filtered each time."""
        if type(client) is not ClientInfo:
            return self._process(event, client_properties(client))
        key = (event, client)
        cached = self._clients.get(key)
        if cached is None:
            before = Counter(self.drops)
            props = self._process(event, client_properties(client))  # counts its drops this first time
            if len(self._clients) >= _CLIENT_CACHE:
                self._clients.clear()
            self._clients[key] = (props, self.drops - before)
            return props
        props, drops = cached
        if drops:
            self.drops.update(drops)
        return props

    def known_values(self, event: str, props: dict[str, Any]) -> dict[str, Any]:
        """The properties the catalogue allows for `event`, with values of the right type and choice (one pass:
        this is the worker's most frequent loop)."""
        allowed, fields = self._allowed[event], catalogue.FIELDS
        kept: dict[str, Any] = {}
        unknown = invalid = 0
        for name, value in props.items():
            if name not in allowed:
                unknown += 1
                continue
            checked = self._check(fields[name], value)
            if checked is not None:
                kept[name] = checked
            elif value is not None:  # None means "not known": nothing to send, nothing lost
                invalid += 1
        if unknown:
            self.drops["unknown_property"] += unknown
        if invalid:
            self.drops["invalid_value"] += invalid
        return kept

    def _check(self, spec: catalogue.Field, value: object) -> object:
        if spec.type is bool:
            return value if isinstance(value, bool) else None
        # Plain floats and ints first: what nearly every caller passes, and the ABC checks below are slow.
        if type(value) is float and spec.type is float:
            return value if math.isfinite(value) else None
        if type(value) is int and spec.type is not str:
            return (float(value) if spec.type is float else value) if abs(value) < 2**63 else None
        if isinstance(value, bool):  # bool is an int subclass, but True is not a size or a duration
            return None
        # numbers.Integral/Real also admit NumPy scalars (what an inference server has at hand); they are
        # converted to plain int/float so that they serialise.
        if spec.type is int:
            return int(value) if isinstance(value, numbers.Integral) and abs(int(value)) < 2**63 else None
        if spec.type is float:
            if isinstance(value, numbers.Integral):
                return float(value) if abs(int(value)) < 2**63 else None
            if isinstance(value, numbers.Real) and math.isfinite(number := float(value)):
                return number
            return None
        if not isinstance(value, str) or self.scrubber.is_identity(value) or not _encodable(value):
            return None
        if spec.choices is not None:
            return value if value in spec.choices else None
        pattern = _PATTERNS.get(spec.name)
        if pattern is not None and not pattern.fullmatch(value):
            return None
        return value

    def model_name_policy(self, event: str, props: dict[str, Any]) -> dict[str, Any]:
        name = props.get("model_name")
        if name is None:
            return props
        if self.model_names == "omitted":
            del props["model_name"]
            return props
        # A server runs the same few models over and over: remember the answer for each name.
        sent = self._model_names.get(name)
        if sent is None:
            if self.model_names == "raw":
                sent = self.scrubber(name)
            elif (normalised := normalise_model_name(name)) in PUBLIC_MODEL_NAMES:
                sent = normalised
            else:
                sent = hash_model_name(self.hash_key, name)
            if len(self._model_names) >= _MODEL_NAME_CACHE:
                self._model_names.clear()
            self._model_names[name] = sent
        props["model_name"] = sent
        return props

    def scrub_strings(self, event: str, props: dict[str, Any]) -> dict[str, Any]:
        for name, value in props.items():
            if isinstance(value, str) and name != "model_name":  # model_name was handled by its policy
                props[name] = self.scrubber(value)
        return props


def _encodable(value: str) -> bool:
    """False for a string holding a lone surrogate: it cannot be sent as UTF-8, and would fail its whole batch."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def client_properties(client: object) -> dict[str, Any]:
    """`track(..., client=info)`: a ClientInfo or a plain dict becomes `client_*` properties."""
    to_dict = getattr(client, "to_dict", None)
    data = to_dict() if callable(to_dict) else client
    if not isinstance(data, Mapping):
        return {}
    return {f"client_{k}": v for k, v in data.items() if isinstance(k, str)}
