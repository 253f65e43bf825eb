"""The exact rewrites applied to exported ONNX graphs: the same outputs, fewer nodes, and nothing rewritten that
another reader, a kernel size, a stride, a group or a shared weight makes unsafe to fold."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from fanzoo.export.graph_passes import PASSES, fold_pointwise_convs, optimize  # noqa: E402
from fanzoo.export.reference import reference_inputs, relative_error  # noqa: E402
from fanzoo.graphs import load_shipped, subsample  # noqa: E402
from fanzoo.plugins import registry  # noqa: E402

CIN, MID, COUT = 12, 5, 8


def run(model, **feeds: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def conv(name: str, source: str, out: str, weight: np.ndarray, bias: np.ndarray | None, inits: list, **attrs):
    inits.append(numpy_helper.from_array(weight.astype(np.float32), f"{name}/W"))
    inputs = [source, f"{name}/W"]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias.astype(np.float32), f"{name}/b"))
        inputs.append(f"{name}/b")
    return helper.make_node("Conv", inputs, [out], name=name, **attrs)


def stack_feedback(rest: bool = True, b_bias: bool = True, lead_kernel: int = 1, b_strides: int = 1,
                   lead_group: int = 1, lead_is_output: bool = False, shared_weight: bool = False,
                   b_source: str = "t", seed: int = 0):
    """FAN's stack-to-stack feedback: y = (p + B(t)) + A(L(t)), B, L and A 1x1 convolutions by default
    (``b_strides`` strides B and L alike, so that the graph stays valid)."""
    rng = np.random.default_rng(seed)
    inits: list = []
    pad = lead_kernel // 2
    nodes = [
        conv("B", b_source, "b", rng.normal(size=(COUT, CIN, 1, 1)), rng.normal(size=COUT) if b_bias else None,
             inits, strides=[b_strides, b_strides]),
        conv("L", "t", "l", rng.normal(size=(MID, CIN // lead_group, lead_kernel, lead_kernel)), rng.normal(size=MID),
             inits, pads=[pad] * 4, group=lead_group, strides=[b_strides, b_strides]),
        conv("A", "l", "a", rng.normal(size=(COUT, MID, 1, 1)), rng.normal(size=COUT), inits),
    ]
    if shared_weight:  # A's weight also read by another node
        nodes.append(helper.make_node("Identity", ["A/W"], ["a_weight"]))
    if rest:
        nodes += [helper.make_node("Add", ["p", "b"], ["pb"]), helper.make_node("Add", ["pb", "a"], ["y"])]
    else:
        nodes.append(helper.make_node("Add", ["b", "a"], ["y"]))
    size = 6 // b_strides
    inputs = [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["N", CIN, 6, 6]),
              helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", COUT, size, size]),
              helper.make_tensor_value_info("s", TensorProto.FLOAT, ["N", CIN, 6, 6])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", COUT, size, size])]
    if lead_is_output:
        outputs.append(helper.make_tensor_value_info("l", TensorProto.FLOAT, ["N", MID, 6, 6]))
    if shared_weight:
        outputs.append(helper.make_tensor_value_info("a_weight", TensorProto.FLOAT, [COUT, MID, 1, 1]))
    graph = helper.make_graph(nodes, "feedback", inputs, outputs, initializer=inits)
    # an IR version every supported ONNX Runtime reads (newer onnx releases default to one 1.23 refuses)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def feeds(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"t": rng.normal(size=(2, CIN, 6, 6)).astype(np.float32),
            "p": rng.normal(size=(2, COUT, 6, 6)).astype(np.float32),
            "s": rng.normal(size=(2, CIN, 6, 6)).astype(np.float32)}


@pytest.mark.parametrize("rest", [True, False], ids=["added to a running sum", "alone"])
@pytest.mark.parametrize("b_bias", [True, False], ids=["B with bias", "B without bias"])
def test_folds_to_one_convolution_with_the_same_outputs(rest: bool, b_bias: bool) -> None:
    model = stack_feedback(rest=rest, b_bias=b_bias)
    before = run(model, **feeds())
    assert fold_pointwise_convs(model) == 1
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 1 and ops.count("Add") == (1 if rest else 0)
    assert [o.name for o in model.graph.output] == ["y"]
    # L's and A's weights are gone: one weight and one bias are left
    assert sorted(len(i.dims) for i in model.graph.initializer) == [1, 4]
    after = run(model, **feeds())
    np.testing.assert_allclose(after[0], before[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("unsafe", [
    {"lead_kernel": 3},  # a 3x3 convolution is not a matrix product per pixel
    {"b_strides": 2},  # B and L sample every other pixel
    {"lead_group": 2},  # a grouped convolution is a block-diagonal product (not folded, to stay simple)
    {"lead_is_output": True},  # L's output is read by someone else
    {"shared_weight": True},  # A's weight is read by another node
    {"b_source": "s"},  # B reads another tensor
], ids=lambda case: next(iter(case)))
def test_leaves_unsafe_patterns_alone(unsafe: dict) -> None:
    model = stack_feedback(**unsafe)
    original = model.SerializeToString()
    assert fold_pointwise_convs(model) == 0
    assert model.SerializeToString() == original


def test_a_graph_with_subgraphs_is_left_alone() -> None:
    model = stack_feedback()
    branch = helper.make_graph([helper.make_node("Identity", ["l"], ["z"])], "branch", [],
                               [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", MID, 6, 6])])
    model.graph.node.append(helper.make_node("If", ["cond"], ["w"], then_branch=branch, else_branch=branch))
    original = model.SerializeToString()
    assert fold_pointwise_convs(model) == 0
    assert model.SerializeToString() == original


@pytest.mark.parametrize("name, folds", [("2dfan1", 0), ("2dfan2", 1)])
def test_fan_feedback_folds_and_still_matches_nnabla(name: str, folds: int) -> None:
    """On a shipped FAN graph filled with its seeded weights: one fold per stack but the last, and the outputs
    still match the reference NNabla computed from those weights."""
    from fanzoo.export.binding import fill_graph
    from fanzoo.weights.synthetic import seeded_params

    spec = registry().get(name)
    shipped = load_shipped(spec)
    model = fill_graph(shipped.load_graph(), seeded_params(spec, shipped.contract.seed), spec.name)
    inputs = reference_inputs(spec)[:2]
    before = run(model, **{spec.inputs[0].name: inputs})[0]
    nodes = len(model.graph.node)
    assert optimize(model) == list(PASSES)
    assert nodes - len(model.graph.node) == 3 * folds
    onnx.checker.check_model(model, full_check=True)
    after = run(model, **{spec.inputs[0].name: inputs})[0]
    assert relative_error(after, before) <= 1e-5
    stride = shipped.contract.output_stride
    assert relative_error(subsample(after, stride), shipped.reference_outputs()[:2]) <= shipped.contract.tolerance
