"""The two Ray Data stages: CPU tasks decode, detect and crop; landmark actors run the network and decode.

Both call the predictor's own stages (:meth:`Predictor.crops`, :meth:`Predictor.landmarks`); what passes
between them is an Arrow table of one row per image, with each face's crop as raw uint8 bytes.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..batch import PathResult
from ..detection import FaceBox
from ..errors import FanzooError, InputError, describe_failure
from ..predictor import Face, FaceCrop, Predictor, scale_boxes
from ..records import result_record
from .job import AlignJob
from .results import result_schema

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)


def crop_schema() -> pa.Schema:
    import pyarrow as pa

    crop = pa.struct([("box", pa.list_(pa.float64(), 4)), ("score", pa.float64()),
                      ("center", pa.list_(pa.float64(), 2)), ("crop_scale", pa.float64()), ("pixels", pa.binary())])
    return pa.schema([("path", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
                      ("image_scale", pa.float64()), ("error", pa.string()), ("crops", pa.list_(crop))])


class CropOnlySession:
    """The landmark session of a predictor that only detects and crops: running it is a programming error."""

    input_names = ("x",)
    output_names = ("heatmaps",)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise RuntimeError("this predictor only crops; the landmark actors run the network")


@functools.lru_cache(maxsize=2)
def crop_predictor(job: AlignJob) -> Predictor:
    """One per worker process and job: the detector loads once, not once per task."""
    import cv2

    from ..api import DEFAULT_BACKEND, load_detector
    from ..plugins import get_model

    cv2.setNumThreads(1)  # a task holds one CPU; OpenCV's own pool would take every core of the node
    spec = get_model(job.model)
    detector = None
    if job.detects:  # on the task's one CPU: a detector that runs on a backend gets one thread, no GPU
        detector = load_detector(job.detector, job.backend or DEFAULT_BACKEND, "cpu", 1, dict(job.detector_options))
    session = CropOnlySession()
    return Predictor(spec, session, session if spec.depth_model else None, detector, flip=job.flip)


def _crop_row(predictor: Predictor, job: AlignJob, path: str) -> dict[str, Any]:
    from ..inputs import prepare_image

    row: dict[str, Any] = {"path": path, "width": 0, "height": 0, "image_scale": 1.0, "error": None, "crops": []}
    try:
        image = prepare_image(Path(path))
    except (FanzooError, OSError, MemoryError) as exc:
        row["error"] = describe_failure(exc)
        return row
    row["width"], row["height"] = image.original_size
    row["image_scale"] = image.scale
    try:
        given = job.boxes_for(Path(path))
        # given boxes are in the file's pixels; a huge file is decoded reduced (as Predictor.predict_prepared does)
        crops = predictor.crops(image.rgb, None if given is None else scale_boxes(given, 1.0 / image.scale))
    except (FanzooError, MemoryError) as exc:
        row["error"] = describe_failure(exc)
        return row
    row["crops"] = [{"box": list(c.box.as_tuple()), "score": c.box.score, "center": [float(v) for v in c.center],
                     "crop_scale": float(c.scale), "pixels": c.pixels.tobytes()} for c in crops]
    return row


def crop_images(batch: pa.Table, job: AlignJob) -> pa.Table:
    """Ray Data task: a table of paths in, one row per image out (its crops, or its error)."""
    import pyarrow as pa

    predictor = crop_predictor(job)
    rows = [_crop_row(predictor, job, path) for path in batch.column("path").to_pylist()]
    return pa.Table.from_pylist(rows, schema=crop_schema())


def _face_crops(row: Mapping[str, Any], size: int) -> list[FaceCrop]:
    out = []
    for c in row["crops"]:
        if len(c["pixels"]) != size * size * 3:  # check before the bytes become an array
            raise InputError(f"a crop of {row['path']} has {len(c['pixels'])} bytes, expected {size}x{size}x3")
        pixels = np.frombuffer(c["pixels"], dtype=np.uint8).reshape(size, size, 3)
        out.append(FaceCrop(FaceBox(*c["box"], c["score"]), np.asarray(c["center"]), c["crop_scale"], pixels))
    return out


class LandmarkStage:
    """Ray Data actor: loads the landmark (and depth) sessions once, then turns crop rows into result rows."""

    def __init__(self, job: AlignJob) -> None:
        from ..api import load_predictor

        # Ray gives a GPU actor its own GPU as the only visible one (CUDA_VISIBLE_DEVICES): index 0 here
        device = "cuda" if job.device.startswith("cuda") else job.device
        self.predictor = load_predictor(job.model, job.backend, device, detector=None, flip=job.flip,
                                        artifacts=job.artifacts, threads=job.threads, batch_size=job.batch_size,
                                        precision=job.precision)
        self.schema = result_schema(self.predictor.spec.landmarks_dims)

    def _faces(self, per_image: Sequence[list[FaceCrop] | str]) -> list[list[Face] | str]:
        """Faces per image (an error string stays); all faces of the block share network batches, and if
        that fails the images go one by one, so one bad image costs only itself (as fanzoo.batch does)."""
        flat = [c for crops in per_image if not isinstance(crops, str) for c in crops]
        try:
            faces = iter(self.predictor.landmarks(flat))
            return [crops if isinstance(crops, str) else [next(faces) for _ in crops] for crops in per_image]
        except (FanzooError, MemoryError):
            out: list[list[Face] | str] = []
            for crops in per_image:
                try:
                    out.append(crops if isinstance(crops, str) else self.predictor.landmarks(crops))
                except (FanzooError, MemoryError) as exc:
                    out.append(describe_failure(exc))
            return out

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        rows = batch.to_pylist()
        size = self.predictor.pre.input_size
        per_image: list[list[FaceCrop] | str] = []
        for row in rows:
            try:
                per_image.append(row["error"] if row["error"] is not None else _face_crops(row, size))
            except InputError as exc:
                per_image.append(str(exc))
        records = []
        for row, faces in zip(rows, self._faces(per_image)):
            error = faces if isinstance(faces, str) else None
            found = [] if error is not None else [f.scaled(row["image_scale"]) for f in faces]
            result = PathResult(Path(row["path"]), found, error, row["width"], row["height"])
            records.append(result_record(result))
        return pa.Table.from_pylist(records, schema=self.schema)
