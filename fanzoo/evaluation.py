"""`fanzoo evaluate`: accuracy of a predictor on folders of images with iBUG .pts ground truth."""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .atomic import atomic_path, atomic_write_text
from .detection import FaceBox
from .errors import FanzooError, InputError
from .metrics import auc, box_size, ced, failure_rate, interocular, iou, nme, point_errors
from .predictor import Face, Predictor
from .pts import annotated_images, read_pts

log = logging.getLogger(__name__)
T = TypeVar("T")
MIN_IOU = 0.3  # below this, the best detection is taken to be another face (or none)


@dataclass(frozen=True)
class ImageScore:
    image: str
    box_source: str  # "detector" or "ground truth"
    nme_eye: float
    nme_box: float
    mean_error_px: float


@dataclass(frozen=True)
class Summary:
    model: str
    backend: str
    images: int
    failed_images: int
    gt_boxes_used: int
    nme_eye_mean: float
    nme_eye_median: float
    nme_box_mean: float
    auc_008: float
    failure_rate_008: float
    box_mode: str
    weights: str | None = None  # the weight tag evaluated (model.tag)


def gt_box(gt: np.ndarray) -> FaceBox:
    x1, y1 = gt.min(0)
    x2, y2 = gt.max(0)
    return FaceBox(float(x1), float(y1), float(x2), float(y2), 1.0)


def truth_box(gt: np.ndarray, box_framing: str | None) -> FaceBox:
    """The box to align an annotated face from: placed from its landmarks as the boxes the model was trained on
    frame a face (a tight landmark box crops differently from any detector's box), or the tight box for a model
    that declares no framing."""
    if box_framing is None:
        return gt_box(gt)
    from .detection.framing import box_from_landmarks

    return box_from_landmarks(gt, box_framing)


def _best_overlap(items: Sequence[T], box_of: Callable[[T], tuple[float, ...]], gt: np.ndarray) -> T | None:
    """The item whose box overlaps the annotated face most, if by at least MIN_IOU (else another face or none)."""
    target = gt_box(gt).as_tuple()
    best = max(items, key=lambda item: iou(box_of(item), target), default=None)
    return best if best is not None and iou(box_of(best), target) >= MIN_IOU else None


def choose_box(detections: Sequence[FaceBox], gt: np.ndarray, box_framing: str | None) -> tuple[FaceBox, str]:
    """The detection that overlaps the annotated face most, or, if none does, the ground-truth box placed as
    ``box_framing`` frames a face (:func:`truth_box`; the aligner's own training framing, so a miss is aligned
    as evaluate aligns it)."""
    best = _best_overlap(detections, FaceBox.as_tuple, gt)
    return (best, "detector") if best is not None else (truth_box(gt, box_framing), "ground truth")


def choose_face(faces: Sequence[Face], gt: np.ndarray) -> tuple[Face | None, str]:
    """The aligned face whose detector box overlaps the annotated face most; None when none does."""
    best = _best_overlap(faces, lambda f: f.box, gt)
    return (best, "detector") if best is not None else (None, "ground truth")


def dataset_pairs(folders: Iterable[Path]) -> list[tuple[Path, Path]]:
    pairs = [pair for folder in folders for pair in annotated_images(folder)]
    if not pairs:
        raise InputError("no images with .pts files beside them in " + ", ".join(map(str, folders)))
    return pairs


def evaluate(predictor: Predictor, folders: Sequence[Path], boxes: str = "detector", progress: bool = False,
             backend_name: str = "") -> tuple[Summary, list[ImageScore]]:
    """Score every annotated image through the batch engine; images that cannot be read are counted and skipped.

    With ``boxes="detector"`` every face the detector finds is aligned, and the one that overlaps the annotated
    face is scored; where none does, the face is aligned again from its ground-truth box (and counted).
    Ground-truth boxes are placed from the annotated landmarks as the model's training boxes frame a face
    (``ModelSpec.box_framing``; see :func:`truth_box`).
    """
    if boxes not in ("detector", "gt"):
        raise InputError("boxes must be 'detector' or 'gt'")
    if boxes == "detector" and predictor.detector is None:
        raise InputError("no face detector configured; use boxes='gt'")
    truth_files = dict(dataset_pairs(folders))
    framing = predictor.spec.box_framing
    truth: dict[Path, np.ndarray] = {}

    def boxes_for(path: Path) -> list[FaceBox] | None:
        truth[path] = read_pts(truth_files[path])
        return [truth_box(truth[path], framing)] if boxes == "gt" else None

    scores: list[ImageScore] = []
    failed = 0
    for result in predictor.predict_paths(list(truth_files), progress=progress, boxes=boxes_for):
        try:
            if not result.ok:
                raise InputError(result.error)
            gt = truth[result.path]
            face, source = (result.faces[0], "ground truth") if boxes == "gt" else choose_face(result.faces, gt)
            if face is None:
                face = predictor.predict(result.path, [truth_box(gt, framing)])[0]
            scores.append(ImageScore(str(result.path), source, nme(face.landmarks, gt, "eye"),
                                     nme(face.landmarks, gt, "box"), float(point_errors(face.landmarks, gt).mean())))
        except FanzooError as exc:
            failed += 1
            log.warning("skipping %s: %s", result.path, exc)
    if not scores:
        raise InputError("no image could be evaluated")
    eye = np.array([s.nme_eye for s in scores])
    summary = Summary(
        model=predictor.spec.name, backend=backend_name, images=len(scores), failed_images=failed,
        gt_boxes_used=sum(s.box_source == "ground truth" for s in scores),
        nme_eye_mean=float(eye.mean()), nme_eye_median=float(np.median(eye)),
        nme_box_mean=float(np.mean([s.nme_box for s in scores])),
        auc_008=auc(eye), failure_rate_008=failure_rate(eye), box_mode=boxes,
        weights=predictor.weights)
    return summary, scores


def write_csv(path: Path, scores: Sequence[ImageScore]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(scores[0])))
    writer.writeheader()
    writer.writerows(asdict(s) for s in scores)
    atomic_write_text(path, buffer.getvalue())


def plot_ced(path: Path, curves: dict[str, np.ndarray], limit: float = 0.08) -> None:
    """CED curves (label -> per-image NMEs) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for label, errors in curves.items():
        xs, ys = ced(errors, limit)
        ax.plot(xs, ys, label=f"{label} (AUC {auc(errors, limit):.3f})")
    ax.set_xlim(0, limit)
    ax.set_ylim(0, 1)
    ax.set_xlabel("NME (outer-eye-corner normalised)")
    ax.set_ylabel("fraction of faces")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


__all__ = ["evaluate", "Summary", "ImageScore", "write_csv", "plot_ced", "choose_box", "gt_box",
           "interocular", "box_size"]
