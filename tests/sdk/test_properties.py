"""Property-based: whatever the host passes, track() never raises, and nothing outside the catalogue and no
address, name or path reaches the transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains, urls

from blindai_telemetry import ClientInfo, InMemoryTransport, Telemetry, catalogue


class Hostile:
    """An object whose every use raises: the filter must not call into it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # let Hypothesis print it
            raise AttributeError(name)
        raise RuntimeError("boom")

    def __repr__(self) -> str:
        return "Hostile()"

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    def __hash__(self) -> int:
        raise RuntimeError("boom")

    def __str__(self) -> str:
        raise RuntimeError("boom")


ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary() | st.builds(Hostile),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
EVENTS = st.sampled_from(sorted(catalogue.EVENTS)) | st.text(max_size=20) | st.integers() | st.none()
PROPERTY_NAMES = st.sampled_from(sorted(catalogue.FIELDS)) | st.text(min_size=1, max_size=12)
CLIENTS = st.none() | st.builds(ClientInfo, install_id=st.none() | st.uuids().map(str), arch=st.text(max_size=8)) \
    | st.dictionaries(st.text(max_size=12), ANY_VALUE, max_size=4) | ANY_VALUE

SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_event_is_in_the_catalogue(event: dict[str, Any]) -> None:
    allowed_top = {f.name for f in (*catalogue.ENVELOPE_FIELDS, *catalogue.CONTEXT_FIELDS)} | {"properties"}
    assert set(event) <= allowed_top
    assert event["event"] in catalogue.EVENTS
    props = event["properties"]
    assert set(props) <= catalogue.allowed_properties(event["event"])
    for name, value in {**{k: v for k, v in event.items() if k != "properties"}, **props}.items():
        spec = catalogue.FIELDS[name]
        if spec.type is float:
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            assert type(value) is spec.type, (name, value)
        if spec.choices:
            assert value in spec.choices
        if isinstance(value, str):
            assert len(value) <= catalogue.MAX_STRING_LENGTH


def test_track_never_raises_and_only_the_catalogue_leaves(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60, model_names="raw")

    @SLOW
    @given(event=EVENTS, properties=st.dictionaries(PROPERTY_NAMES, ANY_VALUE, max_size=6), client=CLIENTS)
    def track_anything(event: Any, properties: dict[str, Any], client: Any) -> None:
        telemetry.track(event, client=client, **properties)  # must not raise, whatever it is given

    track_anything()
    assert telemetry.flush(timeout=30.0)
    stats = telemetry.stats()
    assert stats["handled"] == stats["enqueued"] > 0
    for event in transport.events:
        _check_event_is_in_the_catalogue(event)


DELIMITERS = st.sampled_from([" ", ", ", "; ", "\t", " (", ") ", "=", "\n"])
MAC = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))
SECRETS = (
    st.emails() | st.ip_addresses(v=4).map(str) | st.ip_addresses(v=6).map(str) | urls() | domains() | MAC
    | st.from_regex(r"/[a-z]{1,8}(/[a-z0-9._-]{1,8}){0,3}", fullmatch=True)
    | st.from_regex(r"[A-Z]:\\[A-Za-z]{1,8}(\\[A-Za-z0-9._-]{1,8}){0,2}", fullmatch=True)
)
PLAIN = st.text(alphabet=st.characters(whitelist_categories=("L", "N")), max_size=10)


def test_no_address_name_or_path_reaches_the_transport(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60, model_names="raw")
    planted: list[str] = []

    @SLOW
    @given(parts=st.lists(st.tuples(PLAIN, DELIMITERS, SECRETS, DELIMITERS), min_size=1, max_size=3),
           field=st.sampled_from(["model_name", "client_os_release", "client_app_version", "client_arch"]))
    def plant(parts: list[tuple[str, str, str, str]], field: str) -> None:
        text = "".join(before + d1 + secret + d2 for before, d1, secret, d2 in parts)
        planted.extend(secret for _, _, secret, _ in parts)
        telemetry.track("model_run", **{field: text})

    plant()
    assert telemetry.flush(timeout=30.0)
    values = [v for e in transport.events for v in e["properties"].values() if isinstance(v, str)]
    assert values, "some values should have survived, scrubbed"
    for secret in planted:
        for value in values:
            assert secret not in value, (secret, value)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=12), ANY_VALUE, max_size=8) | ANY_VALUE)
def test_client_info_from_anything_never_raises_and_keeps_only_strings(data: Any) -> None:
    info = ClientInfo.from_dict(data)
    assert all(isinstance(v, str) for v in info.to_dict().values())
    assert ClientInfo.from_dict(info.to_dict()) == info
