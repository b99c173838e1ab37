"""Int8 weights, and activations quantised while the model runs, for a fused ONNX encoder.

ONNX Runtime's `quantize_dynamic` gives each activation tensor one scale: the largest value in the
whole batch sets the step for every token and channel. A fine-tuned encoder's activations are not
that even: in MiniLM-L6 fine-tuned on the default task, the feed-forward layers' inputs reach 20-30
in a few channels against a median of 2 (after layer norm), and span a wide range after GELU.
With one scale per tensor everywhere, 1.4-1.8% of the 1,422 test and 1,422 validation texts got
another label than from PyTorch fp32 (mean logit error 0.07): short of `export.min_agreement`.

So the feed-forward layers' inputs get one scale per token (row) here: symmetric, the row's
largest magnitude mapped to 127 and stored with zero point 128, multiplied in int8 by the weights
(int8, one scale per output channel) in ONNX Runtime's `MatMulIntegerToFloat`, then scaled back
per row. Measured there: 0.6-0.7% of test texts and 0.8-1.1% of validation texts differ (mean
logit error 0.033), depending on how the texts are batched; per-token scales on every linear layer
did no better (0.5-0.8%, 0.8-1.1%), and were slower; per-token scales on only one of the two
(before or after GELU) left 0.8-1.8% differing, so both are needed. ONNX Runtime's `MatMulNBits`
with 8-bit blocks of 32 or 128 weights (activations quantised per block inside the kernel, one
operator in place of seven) agreed as well but ran 25-40% slower at batch 1 (onnxruntime 1.32).
Those seven operators (six after a GELU: `GELU_FLOOR`) are about a fifth of the int8 model's time
at batch 1: the price of the agreement. Fewer or cheaper ones did not pay (paired passes at batch
1, onnxruntime 1.32): opset 21's QuantizeLinear with one block per row, dividing by the row's scale
itself (int8 out, no zero point), ran at a fifth of the speed; a Reciprocal and a Mul in place of
the Div, 1.01x; FastGelu in place of BiasGelu, 1.01x. SmoothQuant before GELU (the input divided
per channel by peak^0.5 / weight_peak^0.5, measured on 512 training texts, the weights' rows
multiplied back; then one scale per tensor) with per-token scales after GELU ran 7% faster at batch
1 and 4% at batch 32, but gave 99.16% agreement and 0.30 point of macro-F1 lost against 99.37% and
0.08 here: too thin a margin over `export.min_agreement` to make it the default. Smoothing after
GELU too left 3-4% differing. The attention's projections keep ONNX Runtime's quantisation (one
scale per tensor, per-channel weights, the fused `QAttention`): six small operators per layer for
per-token scales cost about a fifth of the model's time at batch 1. Word embeddings stay fp32: a
lookup gains nothing from int8.

Int8 leaves a few texts near a class boundary on the other side: on the default task agreement
lands between 99% and 99.5%, so `export.min_agreement` (0.99) is met there, by little.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ZERO_POINT = 128
"""uint8 zero point of the symmetric per-token activations: q = round(x / scale) + 128."""
MICROSOFT = "com.microsoft"


def quantize_weights(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output channel (column): the weights and one scale per column."""
    scale = np.abs(weights).max(axis=0) / 127
    scale[scale == 0] = 1.0
    quantized = np.clip(np.round(weights / scale), -127, 127).astype(np.int8)
    return quantized, scale.astype(np.float32)


def reduce_max(onnx: Any, source: str, target: str, *, name: str, opset: int) -> Any:
    """Largest value along the last axis, kept as an axis of 1: opset 18 moved `axes` to an
    input."""
    helper = onnx.helper
    if opset >= 18:
        return helper.make_node("ReduceMax", [source, "int8_last_axis"], [target], name=name)
    return helper.make_node("ReduceMax", [source], [target], name=name, axes=[-1], keepdims=1)


GELU = ("BiasGelu", "Gelu", "FastGelu", "QuickGelu", "BiasFastGelu")
"""Fused GELU operators: the feed-forward block of a fused encoder is MatMul, GELU, MatMul."""
GELU_FLOOR = 0.28
"""The most negative GELU output, as a magnitude: -0.170 for GELU and its tanh form, -0.2785 /
alpha for QuickGelu's x * sigmoid(alpha * x) (-0.164 at its default alpha of 1.702; an alpha
below 1 would only clip, a little, rows whose every value is under 0.28). So after a GELU a
row's largest value, floored at this, is its largest magnitude too, and its Abs can be left out:
one operator in seven there, 3% of the int8 model's time at batch 1 on the default task
(measured side by side in one process, onnxruntime 1.32, two cores), with the same labels and
logits."""


def feed_forward(graph: Any) -> set[str]:
    """Names of the outputs of the MatMuls on either side of a GELU: a feed-forward block's."""
    producers = {output: node for node in graph.node for output in node.output}
    found = set()
    for node in graph.node:
        if node.op_type not in GELU:
            continue
        before = producers.get(node.input[0])
        if before is not None and before.op_type == "MatMul":
            found.add(before.output[0])
        found.update(
            after.output[0]
            for after in graph.node
            if after.op_type == "MatMul" and after.input[0] == node.output[0]
        )
    return found


def per_token_matmuls(model: Any) -> int:
    """Rewrite in place the MatMuls of `model`'s feed-forward blocks whose second input is a
    constant 2-D float matrix into int8 with per-token activation scales; returns how many."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    weights = {tensor.name: tensor for tensor in graph.initializer}
    chosen = feed_forward(graph)
    gelu_outputs = {node.output[0] for node in graph.node if node.op_type in GELU}
    shared = [
        numpy_helper.from_array(np.array(1 / 127, np.float32), "int8_step"),
        numpy_helper.from_array(np.array(1e-30, np.float32), "int8_tiny"),
        numpy_helper.from_array(np.array(GELU_FLOOR, np.float32), "int8_gelu_floor"),
        numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), "int8_zero_point"),
        numpy_helper.from_array(np.array([-1], np.int64), "int8_last_axis"),
    ]
    nodes, rewritten, unused = [], 0, set()
    for node in graph.node:
        linear = node.op_type == "MatMul" and node.output[0] in chosen
        matrix = weights.get(node.input[1]) if linear else None
        if matrix is None or len(matrix.dims) != 2 or matrix.data_type != onnx.TensorProto.FLOAT:
            nodes.append(node)
            continue
        name, source = f"int8_{rewritten}", node.input[0]
        product = [f"{name}_q", f"{name}_weights", "int8_step", f"{name}_weight_scale"]
        quantized, scale = quantize_weights(numpy_helper.to_array(matrix))
        graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{name}_weights"),
                numpy_helper.from_array(scale, f"{name}_weight_scale"),
            ]
        )
        unused.add(matrix.name)
        if source in gelu_outputs:
            magnitude, floor = source, "int8_gelu_floor"  # see GELU_FLOOR
        else:
            magnitude, floor = f"{name}_abs", "int8_tiny"
            nodes.append(helper.make_node("Abs", [source], [magnitude], name=f"{name}_abs"))
        nodes += [
            reduce_max(onnx, magnitude, f"{name}_peak", name=f"{name}_peak", opset=opset),
            helper.make_node(  # a row of zeros must not divide by zero: NaN would spread
                "Max", [f"{name}_peak", floor], [f"{name}_max"], name=f"{name}_max"
            ),
            helper.make_node("Div", [source, f"{name}_max"], [f"{name}_x"], name=f"{name}_div"),
            helper.make_node(
                "QuantizeLinear",
                [f"{name}_x", "int8_step", "int8_zero_point"],
                [f"{name}_q"],
                name=f"{name}_quantize",
            ),
            helper.make_node(
                "MatMulIntegerToFloat",
                [*product, "int8_zero_point"],
                [f"{name}_product"],
                name=f"{name}_matmul",
                domain=MICROSOFT,
            ),
            helper.make_node(
                "Mul", [f"{name}_product", f"{name}_max"], list(node.output), name=f"{name}_out"
            ),
        ]
        rewritten += 1
    if rewritten:
        graph.initializer.extend(shared)
        still_used = {name for node in nodes for name in node.input}
        kept = [t for t in graph.initializer if t.name not in unused or t.name in still_used]
        del graph.initializer[:]
        graph.initializer.extend(kept)
        del graph.node[:]
        graph.node.extend(nodes)
        if not any(o.domain == MICROSOFT for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid(MICROSOFT, 1))
    return rewritten


def quantize_int8(source: Path, target: Path) -> None:
    """The feed-forward layers per token (above), then the attention's projections by ONNX
    Runtime's dynamic quantiser: weights with one scale per output channel, inputs one per
    tensor."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    per_token_matmuls(model)
    staged = target.with_name(f"{target.stem}.linear.onnx")
    onnx.save(model, str(staged))
    try:
        quantize_dynamic(
            str(staged),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["Attention", "MatMul"],
            extra_options={
                # the fused operators carry no type information the quantiser can read
                "DefaultTensorType": onnx.TensorProto.FLOAT,
                # only linear layers: a product of two activations (unfused attention) stays fp32
                "MatMulConstBOnly": True,
            },
        )
    finally:
        staged.unlink(missing_ok=True)


def int8_operators(path: Path) -> dict[str, int]:
    """How many operators of the model at `path` compute in int8, by type."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        if node.op_type in ("MatMulIntegerToFloat", "QAttention", "MatMulInteger"):
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))
