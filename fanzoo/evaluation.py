"""`fanzoo evaluate`: accuracy of a predictor on folders of images with iBUG .pts ground truth."""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path, atomic_write_text
from .detection import FaceBox
from .errors import FanzooError, InputError
from .metrics import auc, box_size, ced, failure_rate, interocular, iou, nme, point_errors
from .predictor import Predictor
from .pts import annotated_images, read_pts

log = logging.getLogger(__name__)
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


def gt_box(gt: np.ndarray) -> FaceBox:
    x1, y1 = gt.min(0)
    x2, y2 = gt.max(0)
    return FaceBox(float(x1), float(y1), float(x2), float(y2), 1.0)


def choose_box(detections: Sequence[FaceBox], gt: np.ndarray) -> tuple[FaceBox, str]:
    """The detection that overlaps the annotated face most, or the ground-truth box if none does."""
    target = gt_box(gt).as_tuple()
    best = max(detections, key=lambda d: iou(d.as_tuple(), target), default=None)
    if best is not None and iou(best.as_tuple(), target) >= MIN_IOU:
        return best, "detector"
    return gt_box(gt), "ground truth"


def dataset_pairs(folders: Iterable[Path]) -> list[tuple[Path, Path]]:
    pairs = [pair for folder in folders for pair in annotated_images(folder)]
    if not pairs:
        raise InputError("no images with .pts files beside them in " + ", ".join(map(str, folders)))
    return pairs


def evaluate(predictor: Predictor, folders: Sequence[Path], boxes: str = "detector",
             on_progress: Callable[[], None] | None = None, backend_name: str = "") -> tuple[Summary, list[ImageScore]]:
    """Score every annotated image; images that cannot be read are counted and skipped, not fatal."""
    from .imageio import load_image

    if boxes not in ("detector", "gt"):
        raise InputError("boxes must be 'detector' or 'gt'")
    if boxes == "detector" and predictor.detector is None:
        raise InputError("no face detector configured; use boxes='gt'")
    scores: list[ImageScore] = []
    failed = 0
    for image_path, pts_path in dataset_pairs(folders):
        try:
            gt = read_pts(pts_path)
            image = load_image(image_path)
            if image.scale != 1.0:
                raise InputError("image too large for evaluation")
            if boxes == "gt":
                box, source = gt_box(gt), "ground truth"
            else:
                box, source = choose_box(predictor.detect(image.rgb), gt)
            face = predictor.predict(image.rgb, [box])[0]
            scores.append(ImageScore(str(image_path), source, nme(face.landmarks, gt, "eye"),
                                     nme(face.landmarks, gt, "box"), float(point_errors(face.landmarks, gt).mean())))
        except FanzooError as exc:
            failed += 1
            log.warning("skipping %s: %s", image_path, exc)
        if on_progress:
            on_progress()
    if not scores:
        raise InputError("no image could be evaluated")
    eye = np.array([s.nme_eye for s in scores])
    summary = Summary(
        model=predictor.spec.name, backend=backend_name, images=len(scores), failed_images=failed,
        gt_boxes_used=sum(s.box_source == "ground truth" for s in scores),
        nme_eye_mean=float(eye.mean()), nme_eye_median=float(np.median(eye)),
        nme_box_mean=float(np.mean([s.nme_box for s in scores])),
        auc_008=auc(eye), failure_rate_008=failure_rate(eye), box_mode=boxes)
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
