"""The tiny ONNX models: valid graphs onnxruntime runs, computing what their definitions say."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from blindai_telemetry.reference._onnxruntime import ort
from blindai_telemetry.reference.models import BUILDERS, IR_VERSION, OPSET, conv_model, linear_model, sample_input


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_every_model_is_a_checked_graph_at_the_pinned_versions(kind: str) -> None:
    model = onnx.load_from_string(BUILDERS[kind]())
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == IR_VERSION
    assert [o.version for o in model.opset_import] == [OPSET]


@pytest.mark.parametrize(("kind", "out_features"), [("linear", 3), ("identity", 8), ("conv", 2)])
def test_sample_inputs_fit_their_models_for_any_batch(kind: str, out_features: int) -> None:
    for batch in (1, 7):
        assert _run(BUILDERS[kind](), sample_input(kind, batch)).shape == (batch, out_features)


def test_linear_model_computes_relu_of_an_affine_map() -> None:
    model = linear_model(in_features=5, out_features=2, seed=9)
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(model).graph.initializer}
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(_run(model, x), np.maximum(x @ weights["W"] + weights["b"], 0), rtol=1e-5, atol=1e-6)


def test_conv_model_of_a_constant_image_averages_the_relu_of_each_filter() -> None:
    model = conv_model(channels=2, size=4)
    (kernel,) = [numpy_helper.to_array(t) for t in onnx.load_from_string(model).graph.initializer]
    out = _run(model, np.ones((1, 1, 4, 4), dtype=np.float32))
    # Zero padding: each output pixel sums the kernel taps that fall inside the 4×4 image.
    padded = np.pad(np.ones((4, 4), dtype=np.float32), 1)
    for c in range(2):
        conv = np.array([[np.sum(padded[i:i + 3, j:j + 3] * kernel[c, 0]) for j in range(4)] for i in range(4)])
        assert out[0, c] == pytest.approx(np.maximum(conv, 0).mean(), rel=1e-5)


def test_builders_are_deterministic() -> None:
    assert all(build() == build() for build in BUILDERS.values())
