"""Reference tensors: the real face crops every artifact is checked on, and the ONNX model zoo layout
(test_data_set_N/input_K.pb and output_K.pb, TensorProto) they are stored in."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ArtifactError
from ..registry import ModelSpec

REFERENCE_FACES = Path(__file__).resolve().parents[1] / "bundled" / "reference_faces.npz"


def reference_inputs(spec: ModelSpec) -> np.ndarray:
    """Real face crops (bundled, public domain) shaped for ``spec``; for the depth network, crops plus
    landmark maps drawn at the 300-W mean shape.

    Numpy alone, bit for bit the same everywhere (a crop of another size is resampled by nearest
    neighbour), so references computed on one machine hold on any other.
    """
    from ..depth_input import landmark_maps
    from ..preprocessing import to_network_input

    with np.load(REFERENCE_FACES) as ref:
        crops, mean_shape = ref["crops"], ref["mean_shape"]
    size = spec.inputs[0].shape[-1]
    assert isinstance(size, int)
    if crops.shape[1] != size:
        rows = (np.arange(size) * crops.shape[1]) // size
        cols = (np.arange(size) * crops.shape[2]) // size
        crops = crops[:, rows][:, :, cols]
    batch = to_network_input(list(crops))
    if spec.task == "depth":
        maps = landmark_maps(mean_shape * (size / 256.0), size)
        batch = np.concatenate([batch, np.repeat(maps[None], len(batch), axis=0)], axis=1)
    return batch


def write_test_data_set(folder: Path, inputs: Sequence[tuple[str, np.ndarray]],
                        outputs: Sequence[tuple[str, np.ndarray]]) -> None:
    from onnx import numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    for prefix, tensors in (("input", inputs), ("output", outputs)):
        for k, (name, array) in enumerate(tensors):
            proto = numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)
            (folder / f"{prefix}_{k}.pb").write_bytes(proto.SerializeToString())


def read_tensor(path: Path) -> tuple[str, np.ndarray]:
    from onnx import TensorProto, numpy_helper

    proto = TensorProto()
    try:
        proto.ParseFromString(path.read_bytes())
        return proto.name, numpy_helper.to_array(proto)
    except Exception as exc:  # protobuf raises DecodeError or ValueError for damaged files
        raise ArtifactError(f"{path} is not a readable TensorProto: {exc}") from exc


def read_test_data_set(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({input name: array}, {output name: array}) of one test data set."""
    def load(prefix: str) -> dict[str, np.ndarray]:
        files = sorted(folder.glob(f"{prefix}_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
        return dict(read_tensor(p) for p in files)

    inputs, outputs = load("input"), load("output")
    if not inputs or not outputs:
        raise ArtifactError(f"{folder} holds no input_*.pb / output_*.pb reference tensors")
    return inputs, outputs


def test_data_sets(artifact_dir: Path) -> list[Path]:
    return sorted(p for p in Path(artifact_dir).glob("test_data_set_*") if p.is_dir())


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """max |ours - reference| / max |reference|: the tolerance measure manifests declare."""
    scale = float(np.abs(reference).max()) or 1.0
    return float(np.abs(ours.astype(np.float64) - reference).max() / scale)
