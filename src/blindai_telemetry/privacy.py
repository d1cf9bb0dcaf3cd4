"""What may leave a process, decided in one place: the scrubber, the model-name policy and the opt-out decision.

This module is public: the SDK applies it before anything is sent, and the collector applies the same rules again
to what it receives (from senders it does not control), so both sides import them from here.

- `Scrubber` replaces whatever looks like an address, a host or user name, a path, a URL or a secret with
  `REDACTED`, and caps a string's length (a second line of defence behind the event catalogue's allow-list).
  `CONTROL_CHARACTERS` and `ID_PATTERNS` are the patterns the collector holds stored text and identifiers to.
- The model-name policy (`MODEL_NAME_POLICIES`, default `hashed`): `model_name_for()` says what of a model name
  is sent; `hashed_model_name()` is the `hashed` policy alone, which the collector applies to old servers' names.
- `telemetry_decision()`: whether telemetry is on for this user, and why (the environment's kill switches, the
  host application's `enabled=`, `blindai-telemetry disable|enable`, in that order).

Standard library only, like the rest of the SDK. `blindai-telemetry catalogue` lists what the catalogue allows.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from blindai_telemetry import _config, catalogue
from blindai_telemetry import environment_variables as ev

__all__ = [
    "CONTROL_CHARACTERS",
    "ID_PATTERNS",
    "MODEL_NAME_POLICIES",
    "PUBLIC_MODEL_NAMES",
    "REDACTED",
    "Decision",
    "Scrubber",
    "hash_model_name",
    "hashed_model_name",
    "model_name_for",
    "normalise_model_name",
    "telemetry_decision",
]

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
    """The form public names are compared (and sent) in: lower case, runs of `_`/spaces as `-`, no `.onnx`."""
    folded = re.sub(r"[\s_]+", "-", name.strip().lower())
    return folded.removesuffix(".onnx")


def hash_model_name(key: str, name: str) -> str:
    """A keyed hash: one install's models can be counted, but not read nor linked to another install's."""
    digest = hmac.new(key.encode("utf-8"), name.encode("utf-8"), hashlib.sha256).hexdigest()
    return "h:" + digest[:16]


def hashed_model_name(key: str, name: str) -> str:
    """The `hashed` policy: a public architecture's name as `normalise_model_name` writes it, any other name as
    its keyed hash under `key` (the install's secret: never sent)."""
    normalised = normalise_model_name(name)
    return normalised if normalised in PUBLIC_MODEL_NAMES else hash_model_name(key, name)


def model_name_for(name: str, *, policy: str, key: str, scrubber: Scrubber) -> str | None:
    """What of `name` may be sent under `policy`: nothing (`omitted`), the name scrubbed (`raw`), or the
    `hashed` policy's answer."""
    if policy == "omitted":
        return None
    if policy == "raw":
        return scrubber(name)
    if policy == "hashed":
        return hashed_model_name(key, name)
    raise ValueError(f"model_names must be one of {MODEL_NAME_POLICIES}, not {policy!r}")


# --- opt-out --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """Whether telemetry is enabled, and why: `source` is an env var name, "config", "argument" or "default"."""

    enabled: bool
    source: str
    reason: str


def telemetry_decision(
    environ: Mapping[str, str] | None = None,
    user_config: _config.UserConfig | None = None,
    argument: bool | None = None,
) -> Decision:
    """Resolve the opt-out, before anything else is done: environment kill switches first (they always win
    when they disable), then the host app's `enabled=` argument, then `blindai-telemetry disable|enable`, then
    on. `user_config` defaults to the one in the config directory `environ` names; it is read, never written."""
    environ = os.environ if environ is None else environ
    for name in (ev.BLINDAI_DISABLE_TELEMETRY, ev.DO_NOT_TRACK):
        value = environ.get(name)
        if ev.is_opt_out_value(value):
            return Decision(False, name, f"{name}={value!r} is set")
    if argument is False:
        return Decision(False, "argument", "the host application passed enabled=False")
    cfg = user_config if user_config is not None else _config.load_user_config(_config.config_dir(environ))
    if cfg.enabled is False:
        return Decision(False, "config", "disabled with `blindai-telemetry disable`")
    if cfg.enabled is True:
        return Decision(True, "config", "enabled with `blindai-telemetry enable`")
    return Decision(True, "default", "enabled by default (see `blindai-telemetry catalogue`)")
