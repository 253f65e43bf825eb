"""NNP -> ONNX through nnabla-converter's Python API, with the fixes its output needs.

The `nnabla_cli convert` command imports TensorFlow for any ONNX export; the importer/exporter classes
do not. The exporter also falls back to opset 7 without a word for opsets it has no table for, writes a
fixed batch, names nodes after a process-wide counter, and prints and warns a great deal: all handled here.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

from ..errors import ExportError
from .manifest import BATCH_DIM

log = logging.getLogger(__name__)

# opsets the converter has tables for that can express FAN's nearest upsampling (Resize needs >= 10)
SUPPORTED_OPSETS = (10, 11, 13)
DEFAULT_OPSET = 13


def check_opset(opset: int) -> int:
    if opset not in SUPPORTED_OPSETS:
        raise ExportError(f"opset {opset} cannot be exported: nnabla-converter writes opsets "
                          f"{', '.join(map(str, SUPPORTED_OPSETS))} for these models (it silently writes opset 7 "
                          "for others, and FAN's upsampling needs opset 10 or newer); use --opset 13")
    return opset


@contextlib.contextmanager
def _quiet():
    """The converter prints progress to stdout and emits thousands of numpy DeprecationWarnings."""
    nnabla_logger = logging.getLogger("nnabla")
    level = nnabla_logger.level
    nnabla_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as captured:
            warnings.simplefilter("ignore")
            yield
    finally:
        nnabla_logger.setLevel(level)
        for line in captured.getvalue().splitlines():
            log.debug("nnabla-converter: %s", line)


def nnp_to_onnx_model(nnp_path: Path, opset: int, dynamic_batch: bool, batch: int = 1):  # -> onnx.ModelProto
    check_opset(opset)
    try:
        from nnabla.utils.converter.nnabla import NnpImporter
        from nnabla.utils.converter.onnx import OnnxExporter
    except ImportError as exc:
        raise ExportError("ONNX export needs nnabla-converter: pip install --no-deps nnabla-converter==1.39.0 "
                          f"(and onnx) [{exc}]") from exc
    from nnabla.utils.converter.onnx import exporter as onnx_exporter

    # the exporter numbers the names it makes up with a module-wide counter: without a reset, the same
    # network converts to other node names after an earlier conversion in the same process
    onnx_exporter.random_seed = 0
    with _quiet():
        nnp = NnpImporter(str(nnp_path), expand_network=True, executor_index=None).execute()
        model = OnnxExporter(nnp, batch, -1, opset=str(opset)).export_model_proto()
    written = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    if written != opset:
        raise ExportError(f"nnabla-converter wrote opset {written} instead of the requested {opset}; refusing it")
    if dynamic_batch:
        make_batch_dynamic(model)
    return model


def make_batch_dynamic(model) -> None:
    """Mark axis 0 of every graph input and output symbolic, and un-hard-code Reshape's batch."""
    from onnx import numpy_helper

    for value in [*model.graph.input, *model.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = BATCH_DIM
    del model.graph.value_info[:]  # intermediate shapes were inferred at the fixed batch
    shape_inputs = {node.input[1] for node in model.graph.node if node.op_type == "Reshape"}
    constants = {node.output[0]: node for node in model.graph.node if node.op_type == "Constant"}
    initializers = {init.name: init for init in model.graph.initializer}
    for name in shape_inputs:
        if name in initializers:
            tensor = initializers[name]
        elif name in constants:
            tensor = next(a.t for a in constants[name].attribute if a.name == "value")
        else:
            raise ExportError(f"cannot make the batch dynamic: Reshape shape {name!r} is computed, not constant")
        shape = numpy_helper.to_array(tensor).copy()
        shape[0] = -1  # the batch: every other dimension stays as exported
        tensor.CopyFrom(numpy_helper.from_array(shape, tensor.name))


def check_float32(model) -> None:
    from onnx import TensorProto

    for init in model.graph.initializer:
        if init.data_type == TensorProto.DOUBLE:
            raise ExportError(f"initializer {init.name} is float64; parameters must be float32")
