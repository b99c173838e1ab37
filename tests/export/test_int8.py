"""Per-token int8 linear layers: the rewrite gives the float product within int8 rounding,
survives a row of zeros, and touches only the feed-forward blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from domaintune.export.int8 import feed_forward, per_token_matmuls, quantize_weights

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

HIDDEN, INNER = 16, 48


def feed_forward_model(up: np.ndarray, down: np.ndarray, *, opset: int = 17):
    """x -> MatMul(up) -> BiasGelu -> MatMul(down), beside a MatMul outside the block."""
    nodes = [
        helper.make_node("MatMul", ["x", "up"], ["inner"], name="up"),
        helper.make_node(
            "BiasGelu", ["inner", "bias"], ["act"], name="gelu", domain="com.microsoft"
        ),
        helper.make_node("MatMul", ["act", "down"], ["y"], name="down"),
        helper.make_node("MatMul", ["x", "other"], ["z"], name="other"),
    ]
    graph = helper.make_graph(
        nodes,
        "ffn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", HIDDEN])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
        ],
        initializer=[
            numpy_helper.from_array(up, "up"),
            numpy_helper.from_array(down, "down"),
            numpy_helper.from_array(np.zeros(INNER, np.float32), "bias"),
            numpy_helper.from_array(np.eye(HIDDEN, dtype=np.float32), "other"),
        ],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)],
    )


def run(model, x: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"x": x})


@pytest.mark.parametrize("opset", [17, 18])
def test_per_token_int8_gives_the_float_product_within_rounding(opset: int) -> None:
    """Catches a wrong scale (per tensor instead of per row, the weight scale on the wrong axis,
    the zero point not subtracted) or ReduceMax written for the wrong opset: a row of values a
    hundred times larger than the others must not blur them, as one scale per tensor would."""
    rng = np.random.default_rng(0)
    up = rng.normal(0, 0.2, (HIDDEN, INNER)).astype(np.float32)
    down = rng.normal(0, 0.2, (INNER, HIDDEN)).astype(np.float32)
    x = rng.normal(0, 1, (2, 5, HIDDEN)).astype(np.float32)
    x[0, 0] *= 100  # one token far larger than the rest
    x[1, 4] = 0  # and a row of zeros (a NaN there would spread through attention)
    model = feed_forward_model(up, down, opset=opset)
    expected = run(model, x)
    assert per_token_matmuls(model) == 2
    assert sorted(n.op_type for n in model.graph.node).count("MatMulIntegerToFloat") == 2
    assert [n.name for n in model.graph.node if n.op_type == "MatMul"] == ["other"]
    assert [n.op_type for n in model.graph.node].count("Abs") == 1  # none after the GELU
    got = run(model, x)
    assert np.isfinite(got[0]).all()
    for token in [(0, 1), (1, 0), (1, 3)]:  # ordinary tokens beside the large one and the zeros
        scale = np.abs(expected[0][token]).max()
        assert np.abs(got[0][token] - expected[0][token]).max() < 0.03 * scale
    assert np.allclose(got[1], expected[1])  # the MatMul outside the block is untouched


def test_only_the_matmuls_around_a_gelu_are_the_feed_forward_block() -> None:
    model = feed_forward_model(
        np.ones((HIDDEN, INNER), np.float32), np.ones((INNER, HIDDEN), np.float32)
    )
    assert feed_forward(model.graph) == {"inner", "y"}


def test_weights_are_symmetric_int8_per_output_channel() -> None:
    weights = np.array([[1.0, -0.5, 0.0], [-2.0, 0.25, 0.0]], np.float32)
    quantized, scale = quantize_weights(weights)
    assert quantized.dtype == np.int8 and scale.tolist() == pytest.approx([2 / 127, 0.5 / 127, 1])
    assert quantized[:, 0].tolist() == [64, -127] and quantized[:, 2].tolist() == [0, 0]
    assert np.allclose(quantized * scale, weights, atol=scale / 2 + 1e-7)


def test_a_saved_rewrite_loads_in_onnx_runtime(tmp_path: Path) -> None:
    model = feed_forward_model(
        np.ones((HIDDEN, INNER), np.float32), np.ones((INNER, HIDDEN), np.float32)
    )
    per_token_matmuls(model)
    onnx.save(model, str(tmp_path / "m.onnx"))
    assert run(onnx.load(str(tmp_path / "m.onnx")), np.ones((1, 3, HIDDEN), np.float32))


def test_after_a_gelu_a_row_of_only_negative_values_keeps_its_scale() -> None:
    """The Abs left out after a GELU (GELU_FLOOR): a token whose GELU outputs are all at or
    below zero (down to -0.17) has largest value 0; without the floor its scale would be zero
    (NaN), and with a floor smaller than 0.17 its values would be clipped."""
    rng = np.random.default_rng(1)
    up = np.full((HIDDEN, INNER), -1.0, np.float32) / HIDDEN  # every inner value = -mean(x)
    down = rng.normal(0, 0.2, (INNER, HIDDEN)).astype(np.float32)
    x = np.full((1, 2, HIDDEN), 0.75, np.float32)  # GELU(-0.75) = -0.17, its minimum
    x[0, 1] = 3.0  # GELU(-3) = -0.004
    model = feed_forward_model(up, down)
    expected = run(model, x)[0]
    per_token_matmuls(model)
    got = run(model, x)[0]
    assert np.abs(got - expected).max() < 0.01 * np.abs(expected).max()
