"""The conformance suite's coverage models: generated from the NNabla definitions, not drifted from them, and
together containing every operator (with its settings) of every architecture in the registry."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fanzoo.export.manifest import read_manifest
from fanzoo.export.reference import read_test_data_set, relative_error
from fanzoo.plugins import registry
from fanzoo.testing.coverage import coverage_folders, coverage_models

ROOT = Path(__file__).resolve().parents[1]


def operator_signatures(spec) -> set[tuple]:
    """(NNabla function, its settings) for every function of the graph; sizes that only scale the work (a
    pooling window, a reshape target) are left out, the settings runtimes choose kernels by are kept."""
    from fanzoo.graph import build

    found = set()

    def visit(f) -> None:
        kind = f.info.type_name
        args = {k: str(v) for k, v in f.info.args.items()}
        if kind == "AveragePooling":
            args["kernel_is_stride"] = str(args.pop("kernel") == args.pop("stride"))
        if kind == "Interpolate":
            args.pop("output_size")
        if kind == "Reshape":
            args["batch_axis_free"] = str(args.pop("shape").startswith("[-1"))
        if kind == "Convolution":
            args["kernel"] = str(tuple(f.inputs[1].shape[2:]))
        if kind in ("Convolution", "Affine"):
            args["bias"] = str(len(f.inputs) == 3)
        if kind == "Concatenate":
            args["inputs"] = str(len(f.inputs))
        found.add((kind, tuple(sorted(args.items()))))

    build(spec, 1).y.visit(visit)
    return found


def test_every_registered_architecture_is_covered() -> None:
    pytest.importorskip("nnabla")
    covered = set().union(*(operator_signatures(m.spec) for m in coverage_models()))
    architectures = {(spec.builder, repr(sorted(spec.config.items()))): spec for spec in registry()}
    for spec in architectures.values():
        missing = operator_signatures(spec) - covered
        assert not missing, f"{spec.name} uses operators no coverage model has: {sorted(missing)}"


def test_shipped_onnx_operators_are_covered() -> None:
    """Without NNabla: every ONNX operator of the shipped exports appears in a coverage model."""
    import onnx

    covered = {n.op_type for f in coverage_folders() for n in onnx.load(str(f / "model.onnx")).graph.node}
    for folder in (ROOT / "fanzoo" / "bundled").iterdir():
        if (folder / "model.onnx").is_file():
            ops = {n.op_type for n in onnx.load(str(folder / "model.onnx")).graph.node}
            assert ops <= covered, f"{folder.name} uses {sorted(ops - covered)}, which no coverage model has"


def test_committed_artifacts_are_current(tmp_path: Path) -> None:
    """Regenerated from the NNabla definitions, they match what is committed (a changed builder shows here)."""
    pytest.importorskip("nnabla")
    import onnx

    from fanzoo.testing.generate import make_coverage_artifact

    for model, committed in zip(coverage_models(), coverage_folders()):
        fresh = tmp_path / model.name
        make_coverage_artifact(model, fresh)
        old, new = read_manifest(committed), read_manifest(fresh)
        assert (old.inputs, old.outputs, old.tolerance, old.weights_sha256) == (new.inputs, new.outputs, new.tolerance,
                                                                                   new.weights_sha256)
        (old_in, old_out), (new_in, new_out) = (read_test_data_set(f / "test_data_set_0") for f in (committed, fresh))
        for name in old_in:
            np.testing.assert_array_equal(old_in[name], new_in[name])
        for name in old_out:
            assert relative_error(new_out[name], old_out[name]) < 1e-5, (model.name, name)
        graphs = [onnx.load(str(f / "model.onnx")).graph for f in (committed, fresh)]
        assert [n.op_type for n in graphs[0].node] == [n.op_type for n in graphs[1].node], model.name
        # the converter numbers the constants it makes ("@.../Add2_out_10_0042_roi") across a process, so those
        # are compared in graph order; parameters by name
        weights = [[(i.name, onnx.numpy_helper.to_array(i)) for i in g.initializer] for g in graphs]
        assert len(weights[0]) == len(weights[1]), model.name
        fresh_params = {name: value for name, value in weights[1] if not name.startswith("@")}
        for (name, value), (_, fresh) in zip(weights[0], weights[1]):
            other = fresh if name.startswith("@") else fresh_params[name]
            np.testing.assert_allclose(other, value, rtol=1e-5, atol=1e-6, err_msg=f"{model.name} {name}")


def test_coverage_models_exercise_what_they_claim() -> None:
    """The depth model has downsampling and identity-residual bottlenecks, padded max pooling and the Gemm head;
    the FAN model has two stacks (the stack-to-stack adds), nearest upsampling, concatenation, average pooling."""
    import onnx

    ops = {f.name: Counter(n.op_type for n in onnx.load(str(f / "model.onnx")).graph.node) for f in coverage_folders()}
    fan, depth = ops["coverage-fan"], ops["coverage-resnetdepth"]
    assert fan["Resize"] and fan["Concat"] and fan["AveragePool"] and fan["Add"] > 2 * fan["Resize"]
    assert depth["MaxPool"] == 1 and depth["Pad"] == 1 and depth["Reshape"] == 1 and depth["Gemm"] == 1
    assert depth["Add"] == 8  # one residual add per bottleneck: 4 with a downsampling branch, 4 identity
    assert depth["Conv"] == 1 + 8 * 3 + 4
