"""The privacy filter: only the catalogue leaves, values are typed, strings scrubbed, model names by policy."""

from __future__ import annotations

from collections import Counter

import pytest

from blindai_telemetry import ClientInfo, catalogue
from blindai_telemetry._filter import PrivacyFilter
from blindai_telemetry.privacy import REDACTED, Scrubber, hash_model_name, normalise_model_name

KEY = "k" * 64


def make(policy: str = "hashed") -> PrivacyFilter:
    return PrivacyFilter(Counter(), policy, KEY, Scrubber(host_name="gpu-box-7", user_name="alice"))


def test_unknown_event_is_dropped_and_counted() -> None:
    f = make()
    assert f("delete_everything", {"model_name": "resnet"}) is None
    assert f(42, {}) is None
    assert f.drops["unknown_event"] == 2


def test_properties_outside_the_event_are_dropped_and_counted() -> None:
    f = make()
    props = f("model_deleted", {"model_name": "resnet50", "duration_ms": 3.0, "password": "x"})
    assert props == {"model_name": "resnet50"}
    assert f.drops["unknown_property"] == 2


@pytest.mark.parametrize(("name", "value"), [
    ("duration_ms", "12"), ("duration_ms", True), ("duration_ms", float("nan")), ("duration_ms", float("inf")),
    ("input_bytes", 1.5), ("input_bytes", False), ("input_bytes", 2**80), ("ok", 1), ("ok", "true"),
    ("error_kind", "Traceback (most recent call last)"), ("model_name", 3),
])
def test_wrong_types_and_choices_are_dropped_and_counted(name: str, value: object) -> None:
    f = make()
    assert f("model_run", {name: value}) == {}
    assert f.drops["invalid_value"] == 1


def test_int_is_accepted_for_a_float_field_and_sent_as_a_float() -> None:
    props = make()("model_run", {"duration_ms": 12, "input_bytes": 10, "ok": False, "error_kind": "too_large"})
    assert props == {"duration_ms": 12.0, "input_bytes": 10, "ok": False, "error_kind": "too_large"}
    assert isinstance(props["duration_ms"], float)


@pytest.mark.parametrize("text", [
    "mail alice@example.com now", "see https://intranet.corp/x?y=1", "10.0.0.12", "fe80::1ff:fe23:4567:890a",
    "/home/alice/models/m.onnx", r"C:\Users\alice\model.onnx", r"\\fileserver\share", "db1.corp.example.com",
    "00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", "gpu-box-7 ran it",
])
def test_scrubber_redacts_addresses_names_and_paths(text: str) -> None:
    scrubbed = Scrubber(host_name="gpu-box-7", user_name="alice")(text)
    assert REDACTED in scrubbed
    for secret in ("alice@", "intranet", "10.0.0.12", "fe80", "/home", "Users", "fileserver", "corp",
                   "1a:2b", "1A-2B", "gpu-box-7"):
        assert secret not in scrubbed


@pytest.mark.parametrize("text", ["0.6.3", "5.15.0-1034-azure", "3.11.7", "x86_64", "Linux", "blindai-python"])
def test_scrubber_leaves_versions_and_platform_words(text: str) -> None:
    assert Scrubber(host_name="gpu-box-7", user_name="alice")(text) == text


def test_strings_are_capped() -> None:
    f = make("raw")
    props = f("model_run", {"model_name": "m" * 300})
    assert props is not None and len(props["model_name"]) == catalogue.MAX_STRING_LENGTH


def test_values_equal_to_the_host_or_user_name_are_refused() -> None:
    f = make()
    assert f("model_run", {"client_os_name": "ALICE", "client_arch": "gpu-box-7"}) == {}
    assert f.drops["invalid_value"] == 2


@pytest.mark.parametrize("name", ["resnet50", "ResNet50", "bert_base_uncased", "GPT2", "yolov5.onnx", " whisper "])
def test_public_architecture_names_pass_normalised(name: str) -> None:
    props = make()("model_run", {"model_name": name})
    assert props == {"model_name": normalise_model_name(name)}


def test_private_model_names_are_replaced_by_a_keyed_hash() -> None:
    props = make()("model_run", {"model_name": "acme-fraud-detector-v3"})
    assert props == {"model_name": hash_model_name(KEY, "acme-fraud-detector-v3")}
    assert props["model_name"].startswith("h:") and len(props["model_name"]) == 18
    # another install (another key) gets another hash: names cannot be linked across installs
    assert hash_model_name("other", "acme-fraud-detector-v3") != props["model_name"]


def test_raw_policy_still_scrubs_and_omitted_drops() -> None:
    assert make("raw")("model_run", {"model_name": "/srv/acme/model.onnx"}) == {"model_name": REDACTED}
    assert make("raw")("model_run", {"model_name": "acme-v3"}) == {"model_name": "acme-v3"}
    assert make("omitted")("model_run", {"model_name": "resnet50", "duration_ms": 1.0}) == {"duration_ms": 1.0}


def test_unknown_policy_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        PrivacyFilter(Counter(), "plaintext")


def test_client_info_or_dict_becomes_client_properties_checked_like_all() -> None:
    info = ClientInfo(install_id="6f1d2c3b-1a2b-4c5d-8e9f-0a1b2c3d4e5f", app_version="0.6.3", os_name="Linux",
                      os_release="6.1.0-18-amd64", arch="x86_64", user_agent="blindai-python")
    f = make()
    assert f("model_run", {}, info) == {f"client_{k}": v for k, v in info.to_dict().items()}
    bad = f("model_run", {}, {"install_id": "not-a-uuid", "arch": "x86_64", "shoe_size": 44})
    assert bad == {"client_arch": "x86_64"}
    assert f.drops["invalid_value"] == 1 and f.drops["unknown_property"] == 1
    # server_started is not caused by a client request: client_* fields are not allowed there
    assert f("server_started", {}, info) == {}


def test_a_client_install_id_passes_whole_even_when_its_digits_look_like_a_card_number() -> None:
    # Its groups 4919-8964-019975 are 14 digits that pass the Luhn check: the scrubber's card pattern matched
    # inside it (one CI run), and the client's id went out as "51e9fee9-462e-<redacted>dbe844".
    install_id = "51e9fee9-462e-4919-8964-019975dbe844"
    assert REDACTED in Scrubber()(install_id)
    props = make()("model_run", {}, ClientInfo(install_id=install_id, arch="x86_64"))
    assert props == {"client_install_id": install_id, "client_arch": "x86_64"}


def test_numpy_scalars_are_accepted_as_plain_numbers() -> None:
    np = pytest.importorskip("numpy")
    props = make()("model_run", {"duration_ms": np.float32(1.5), "input_bytes": np.int64(7)})
    assert props == {"duration_ms": 1.5, "input_bytes": 7}
    assert type(props["duration_ms"]) is float and type(props["input_bytes"]) is int
    assert make()("model_run", {"ok": np.bool_(True)}) == {}  # not a Python bool: refused, counted


def test_fractions_and_decimals_become_floats() -> None:
    from decimal import Decimal
    from fractions import Fraction

    assert make()("model_run", {"duration_ms": Fraction(3, 2)}) == {"duration_ms": 1.5}
    assert make()("model_run", {"duration_ms": Decimal("NaN")}) == {}  # not a Real: refused


def test_huge_strings_are_cut_without_leaving_half_a_secret() -> None:
    scrub = Scrubber(host_name="gpu-box-7", user_name="alice")
    text = "x " * 399 + "10.20.30.40 and more " * 10_000
    out = scrub(text)
    assert len(out) <= catalogue.MAX_STRING_LENGTH
    assert "10.20" not in out
    assert scrub("y" * 100_000) == REDACTED  # one giant token: nothing of it is sent


def test_a_text_checked_once_is_answered_the_same_and_counted_again_each_time() -> None:
    """Text verdicts are remembered per field: a value refused once is refused (and counted) on every event, a
    value kept once is kept; the same text under another field is checked for that field."""
    f = make()
    for _ in range(3):
        assert f("model_run", {"error_kind": "alice@example.com", "model_name": "resnet50"}) == {
            "model_name": "resnet50"}
    assert f.drops["invalid_value"] == 3
    assert f("model_run", {"error_kind": "too_large"}) == {"error_kind": "too_large"}
    assert f("model_run", {"error_kind": "resnet50"}) == {}  # kept as a model name, not as an error kind
    assert f.drops["invalid_value"] == 4
