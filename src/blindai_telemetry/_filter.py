"""The privacy filter: small processors, run on the worker, that decide what of an event may leave the process.

Each processor takes the event name and its properties and returns the properties it lets through, counting
what it drops (like structlog's processor chain). The catalogue is the only allow-list; strings are scrubbed
as a second line of defence; model names follow the `raw | hashed | omitted` policy. The scrubber and the
model-name policy themselves are the public `blindai_telemetry.privacy`, which the collector applies too.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from blindai_telemetry import catalogue
from blindai_telemetry._context import ClientInfo
from blindai_telemetry._transport import dumps
from blindai_telemetry.privacy import MODEL_NAME_POLICIES, Scrubber, model_name_for

Drops = Counter[str]
_MODEL_NAME_CACHE = 1024
#: A server sees the same few clients again and again: their filtered facts are remembered (per event name),
#: by value and, in front of that, by identity (a server keeps one `ClientInfo` per client, and hashing one calls
#: the dataclass's Python-level `__hash__` and `__eq__`).
_CLIENT_CACHE = 1024
#: Text values checked (per field): a server's model names, a client's versions.
_TEXT_CACHE = 1024
Processor = Callable[[str, dict[str, Any]], dict[str, Any]]


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
#: Whole UUIDs (checked above) hold nothing to scrub, and the scrubber's card-number pattern can match inside one
#: (digit-only groups, about 1 id in 5,000): scrubbing would corrupt the id rather than protect anyone.
_NOT_SCRUBBED = frozenset({"model_name", *(name for name, pattern in _PATTERNS.items() if pattern is _UUID)})


@dataclass(frozen=True, eq=False)
class ClientFacts:
    """What of a client's facts leaves the process with one event name, filtered and serialised once per client."""

    #: The `client_*` properties the filter let through.
    properties: dict[str, Any]
    #: Their JSON members without the braces (`"client_install_id":"…","client_arch":"…"`), as `dumps` makes
    #: them: spliced into each event's properties on the wire rather than serialised again for every event.
    json: bytes
    #: What the filter dropped of them, counted again on every use, as if they had been filtered each time.
    drops: Drops


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
        self._texts: dict[tuple[str, str], str | None] = {}
        self._clients: dict[tuple[str, ClientInfo], ClientFacts] = {}
        self._client_objects: dict[tuple[str, int], tuple[ClientInfo, ClientFacts]] = {}
        self._allowed = {name: catalogue.allowed_properties(name) for name in catalogue.EVENTS}
        self.processors: tuple[Processor, ...] = (
            self.known_values, self.model_name_policy, self.scrub_strings,
        )

    def __call__(self, event: object, properties: Mapping[str, Any], client: object = None) -> dict[str, Any] | None:
        """The properties of `event` that may leave the process, or None when the whole event is dropped."""
        kept = self.split(event, properties, client)
        if kept is None:
            return None
        props, facts = kept
        if facts is not None:
            props.update(facts.properties)
        return props

    def split(self, event: object, properties: Mapping[str, Any],
              client: object = None) -> tuple[dict[str, Any], ClientFacts | None] | None:
        """Like calling the filter, but a `ClientInfo`'s facts come apart (None when none are left, or when the
        host passed `client_*` properties itself: then they are merged as they always were), so that the
        worker serialises them once per client. None when the whole event is dropped."""
        if not isinstance(event, str) or event not in catalogue.EVENTS:
            self.drops["unknown_event"] += 1
            return None
        props = self._process(event, dict(properties))
        if client is None:
            return props, None
        if type(client) is not ClientInfo:
            props.update(self._process(event, client_properties(client)))
            return props, None
        facts = self._client(event, client)
        if not facts.properties:
            return props, None
        if not props.keys().isdisjoint(facts.properties):
            props.update(facts.properties)
            return props, None
        return props, facts

    def _process(self, event: str, props: dict[str, Any]) -> dict[str, Any]:
        for processor in self.processors:
            props = processor(event, props)
        return props

    def _client(self, event: str, client: ClientInfo) -> ClientFacts:
        """The client's facts for `event`, filtered like the event's own properties once per distinct client (a
        `ClientInfo` is frozen: its facts cannot change under the cache), their drops counted on every use."""
        seen = self._client_objects.get((event, id(client)))
        if seen is not None and seen[0] is client:  # the entry holds `client`: its id cannot have been reused
            facts = seen[1]
        else:
            cached = self._clients.get((event, client))
            if cached is None:
                before = Counter(self.drops)
                props = self._process(event, client_properties(client))  # counts its drops this first time
                facts = ClientFacts(props, dumps(props)[1:-1], self.drops - before)
                _remember(self._clients, (event, client), facts)
                _remember(self._client_objects, (event, id(client)), (client, facts))
                return facts
            facts = cached
            _remember(self._client_objects, (event, id(client)), (client, facts))
        if facts.drops:
            self.drops.update(facts.drops)
        return facts

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
        if type(value) is str:  # the same few names and versions again and again: checked once each
            key = (spec.name, value)
            if key in self._texts:
                return self._texts[key]
            if len(self._texts) >= _TEXT_CACHE:
                self._texts.clear()
            checked = self._texts[key] = self._check_text(spec, value)
            return checked
        return self._check_text(spec, value)

    def _check_text(self, spec: catalogue.Field, value: object) -> str | None:
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
        # A server runs the same few models over and over: remember the answer for each name.
        sent = self._model_names.get(name)
        if sent is None:
            sent = model_name_for(name, policy=self.model_names, key=self.hash_key, scrubber=self.scrubber)
            if sent is None:  # `omitted`
                del props["model_name"]
                return props
            if len(self._model_names) >= _MODEL_NAME_CACHE:
                self._model_names.clear()
            self._model_names[name] = sent
        props["model_name"] = sent
        return props

    def scrub_strings(self, event: str, props: dict[str, Any]) -> dict[str, Any]:
        for name, value in props.items():
            if isinstance(value, str) and name not in _NOT_SCRUBBED:  # model_name was handled by its policy
                props[name] = self.scrubber(value)
        return props


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Bounded: emptied rather than grown past `_CLIENT_CACHE` entries."""
    if len(cache) >= _CLIENT_CACHE:
        cache.clear()
    cache[key] = value


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
