"""Regenerate tests/fixtures/parity_*.npz by running the authors' face-alignment 1.5.0 (PyTorch).

Runs in the reference environment only (Python 3.11, torch 2.13.0 CPU, face-alignment 1.5.0):
    tox -e reference            # or: .venv-ref/bin/python tools/make_fixtures.py
It needs ../shared/data (real faces). Weights are seeded random (fanzoo.weights.synthetic, keyed by
NNabla parameter name), with BatchNorm statistics calibrated by one train-mode pass over real face
crops and then perturbed, so BatchNorm really matters. Only those statistics are stored; the tests
rebuild every other tensor from the seed.

    .venv-ref/bin/python tools/make_fixtures.py --checkpoints DIR
writes those same weights as the authors' checkpoint files instead (torch.save of their FAN and
ResNetDepth modules, legacy format, the depth network wrapped as theirs is), for tests that import them
as a user would (FANZOO_PARITY_CHECKPOINTS=DIR). About 400 MB; needs no shared data.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # fanzoo's numpy-only modules; nnabla is not needed (nor installable) here

import face_alignment  # noqa: E402
import face_alignment.api as fa_api  # noqa: E402
from face_alignment.models import FAN, ResNetDepth  # noqa: E402
from face_alignment.utils import crop as fa_crop  # noqa: E402

from fanzoo.pts import read_pts  # noqa: E402
from fanzoo.weights.names import nnabla_to_torch, torch_to_nnabla  # noqa: E402
from fanzoo.weights.synthetic import synthetic_params  # noqa: E402

DATA = Path(os.environ.get("FANZOO_DATA", ROOT.parent / "shared" / "data"))
SEEDS = {"2dfan4": 1, "3dfan4": 2, "resnetdepth": 3}
# Faces: two 300-W test faces with boxes from their landmarks, and two demo photos with dlib HOG boxes
# (one reaching past the image's top edge, so the crop's zero padding is exercised).
FACES = [
    ("300w/testset/helen/2968560214_1.jpg", None),
    ("300w/testset/helen/296814969_3.jpg", None),
    ("demo/skimage_astronaut.png", (179, 83, 266, 170)),
    ("demo/matplotlib_grace_hopper.jpg", (161, -20, 376, 352)),
]
CALIBRATION = ["300w/trainset/afw/1051618982_1.jpg", "300w/trainset/afw/111076519_1.jpg",
               "300w/trainset/helen/100032540_1.jpg", "300w/trainset/lfpw/image_0001.jpg"]
HEATMAP_FACES = 2  # full heatmaps are stored for the first faces only, to keep fixtures small


def read_rgb(rel: str) -> np.ndarray:
    import cv2
    bgr = cv2.imread(str(DATA / rel), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {DATA / rel}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def box_for(rel: str, box: tuple | None) -> np.ndarray:
    if box is not None:
        return np.array(box, dtype=np.float64)
    pts = read_pts((DATA / rel).with_suffix(".pts"))
    return np.array([*pts.min(0), *pts.max(0)]).round()


def crops_for(names: list[str]) -> torch.Tensor:
    crops = []
    for rel in names:
        image = read_rgb(rel)
        b = box_for(rel, None)
        center = np.array([b[2] - (b[2] - b[0]) / 2.0, b[3] - (b[3] - b[1]) / 2.0])
        center[1] -= (b[3] - b[1]) * 0.12
        crops.append(fa_crop(image, center, (b[2] - b[0] + b[3] - b[1]) / 195.0))
    return torch.from_numpy(np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255.0)


def seeded(net: torch.nn.Module, seed: int) -> dict[str, np.ndarray]:
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    shapes = {k: v.shape for k, v in torch_to_nnabla(state).items()}
    params = synthetic_params(shapes, seed)
    missing, unexpected = net.load_state_dict({k: torch.from_numpy(v) for k, v in nnabla_to_torch(params).items()},
                                              strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return params


def calibrate(net: torch.nn.Module, inputs: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
    """Set BN statistics from one train-mode pass over real inputs, then perturb them; return them."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one pass the stats are exactly the batch stats
    net.train()
    with torch.no_grad():
        net(inputs)
    net.eval()
    rng = np.random.default_rng(seed + 1000)
    for m in bns:
        std = m.running_var.sqrt().numpy()
        m.running_mean += torch.from_numpy((0.2 * std * rng.standard_normal(std.shape)).astype(np.float32))
        m.running_var *= torch.from_numpy(rng.uniform(0.7, 1.3, std.shape).astype(np.float32))
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    return {k: v for k, v in torch_to_nnabla(state).items() if k.endswith(("/bn/mean", "/bn/var"))}


class _StubDetector:
    reference_scale = 195


def aligner(fan: FAN, depth: ResNetDepth | None, flip: bool) -> face_alignment.FaceAlignment:
    """A FaceAlignment with our networks, built without its constructor (which downloads weights)."""
    fa = object.__new__(face_alignment.FaceAlignment)
    fa.device, fa.dtype, fa.verbose, fa.max_batch_size = "cpu", torch.float32, False, 1
    fa.flip_input = flip
    fa.landmarks_type = face_alignment.LandmarksType.THREE_D if depth else face_alignment.LandmarksType.TWO_D
    fa.face_detector = _StubDetector()
    fa.face_alignment_net = fan
    if depth is not None:
        fa.depth_prediciton_net = depth
    return fa


def float_transform(point: np.ndarray, center: np.ndarray, scale: float, resolution: int) -> np.ndarray:
    """face_alignment.utils.transform_np without its final astype(np.int32)."""
    h = 200.0 * scale
    t = np.eye(3)
    t[0, 0] = t[1, 1] = resolution / h
    t[0, 2] = resolution * (-center[0] / h + 0.5)
    t[1, 2] = resolution * (-center[1] / h + 0.5)
    return (np.linalg.pinv(t) @ np.array([point[0], point[1], 1.0]))[:2]


def run_pipeline(fa: face_alignment.FaceAlignment, image: np.ndarray, box: np.ndarray) -> dict[str, np.ndarray]:
    seen: dict[str, np.ndarray] = {}
    original = fa_api.get_preds_fromhm

    def recording(hm, center, scale):
        preds, preds_orig, scores = original(hm, center, scale)
        seen["heatmap_coords"] = preds[0].copy()
        seen["float_xy"] = np.stack([float_transform(p, center, scale, hm.shape[-1]) for p in preds[0]])
        return preds, preds_orig, scores

    fa_api.get_preds_fromhm = recording
    try:
        landmarks, scores, _ = fa.get_landmarks_from_image(image, detected_faces=[box], return_landmark_score=True)
    finally:
        fa_api.get_preds_fromhm = original
    seen["landmarks"] = np.asarray(landmarks[0], dtype=np.float64)
    seen["scores"] = np.asarray(scores[0], dtype=np.float32)
    return seen


TINY = {"width": 16, "stem": (8, 16), "depth": 2}  # mirrored by tests/test_weights_import.py


def tiny_fan() -> FAN:
    """The authors' FAN classes at toy widths: a real authors'-layout checkpoint that fits in a fixture."""
    from face_alignment.models.fan import ConvBlock, HourGlass

    torch.manual_seed(5)
    net = FAN(1)
    w, (c1, c2) = TINY["width"], TINY["stem"]
    net.conv1 = torch.nn.Conv2d(3, c1, kernel_size=7, stride=2, padding=3)
    net.bn1 = torch.nn.BatchNorm2d(c1)
    net.conv2, net.conv3, net.conv4 = ConvBlock(c1, c2), ConvBlock(c2, c2), ConvBlock(c2, w)
    net.m0 = HourGlass(1, TINY["depth"], w)
    net.top_m_0 = ConvBlock(w, w)
    net.conv_last0 = torch.nn.Conv2d(w, w, kernel_size=1)
    net.bn_end0 = torch.nn.BatchNorm2d(w)
    net.l0 = torch.nn.Conv2d(w, 68, kernel_size=1)
    for m in net.modules():  # non-trivial statistics, so a wrong BN mapping cannot pass
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return net.eval()


def write_tiny_checkpoints(out: Path) -> None:
    import collections

    net = tiny_fan()
    state = net.state_dict()
    torch.save(state, out / "tiny_fan_zip.pth")
    torch.save(state, out / "tiny_fan_legacy.pth.tar", _use_new_zipfile_serialization=False)
    wrapped = {"state_dict": collections.OrderedDict(("module." + k, v) for k, v in state.items()), "epoch": 1}
    torch.save(wrapped, out / "tiny_fan_wrapped_legacy.pth.tar", _use_new_zipfile_serialization=False)
    x = torch.from_numpy(np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32))
    with torch.no_grad():
        y = net(x)[-1].numpy()
    np.savez_compressed(out / "tiny_fan_io.npz", x=x.numpy(), y=y)


def fixture_weights(name: str, record_name: str, prefix: str, seed_key: str) -> dict[str, np.ndarray]:
    """The weights a parity fixture was made with: seeded tensors plus its stored BatchNorm statistics."""
    with np.load(ROOT / "tests" / "fixtures" / f"parity_{record_name}.npz") as record:
        stats = {k[len(prefix):]: record[k] for k in record.files if k.startswith(prefix)}
        seed = int(record[seed_key])
    net = FAN(4) if name != "resnetdepth" else ResNetDepth()
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    params = synthetic_params({k: v.shape for k, v in torch_to_nnabla(state).items()}, seed)
    assert stats and set(stats) <= set(params)
    params.update(stats)
    return params


def write_authors_checkpoints(out: Path) -> None:
    """The parity fixtures' weights as the authors' files: FAN state dicts, and ResNetDepth wrapped in
    {'state_dict': {'module.<name>': ...}}, all in the legacy (pre-1.6) serialization."""
    import collections
    import hashlib

    out.mkdir(parents=True, exist_ok=True)
    jobs = [("2dfan4", "2DFAN4", "2dfan4", "bn:", "seed"), ("3dfan4", "3DFAN4", "3dfan4", "bn:", "seed"),
            ("resnetdepth", "depth", "3dfan4", "depthbn:", "depth_seed")]
    for name, stem, record, prefix, seed_key in jobs:
        net = FAN(4) if name != "resnetdepth" else ResNetDepth()
        params = fixture_weights(name, record, prefix, seed_key)
        missing, unexpected = net.load_state_dict({k: torch.from_numpy(v) for k, v in nnabla_to_torch(params).items()},
                                                  strict=False)
        assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
        state = net.state_dict()
        if name == "resnetdepth":
            state = {"state_dict": collections.OrderedDict(("module." + k, v) for k, v in state.items())}
        tmp = out / f"{stem}.part"
        torch.save(state, tmp, _use_new_zipfile_serialization=False)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        target = out / f"{stem}-{digest[:10]}.pth.tar"  # the authors' naming: the hash prefix in the name
        tmp.rename(target)
        print(f"wrote {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="write the parity weights as the authors' checkpoint files into this folder instead")
    args = parser.parse_args()
    if args.checkpoints is not None:
        write_authors_checkpoints(args.checkpoints)
        return
    torch.set_num_threads(2)
    torch.manual_seed(0)
    calib = crops_for(CALIBRATION)
    images = [read_rgb(rel) for rel, _ in FACES]
    boxes = np.stack([box_for(rel, box) for rel, box in FACES])

    fan2d, fan3d, depth = FAN(4), FAN(4), ResNetDepth()
    seeded(fan2d, SEEDS["2dfan4"])
    seeded(fan3d, SEEDS["3dfan4"])
    seeded(depth, SEEDS["resnetdepth"])
    bn = {"2dfan4": calibrate(fan2d, calib, SEEDS["2dfan4"]), "3dfan4": calibrate(fan3d, calib, SEEDS["3dfan4"])}
    with torch.no_grad():
        calib_hm = fan3d(calib)[-1].numpy()
    # ResNetDepth is calibrated on what it really sees: crops plus gaussians at FAN's own landmarks
    from face_alignment.utils import draw_gaussian, get_preds_fromhm
    maps = np.zeros((len(calib), 68, 256, 256), np.float32)
    preds, _, _ = get_preds_fromhm(calib_hm)
    for i in range(len(calib)):
        for j, p in enumerate(torch.from_numpy(preds[i]) * 4):
            if p[0] > 0 and p[1] > 0:
                maps[i, j] = draw_gaussian(maps[i, j], p, 2)
    bn["resnetdepth"] = calibrate(depth, torch.cat([calib, torch.from_numpy(maps)], 1), SEEDS["resnetdepth"])

    args.out.mkdir(parents=True, exist_ok=True)
    write_tiny_checkpoints(args.out)
    for name, fan, dnet in (("2dfan4", fan2d, None), ("3dfan4", fan3d, depth)):
        record: dict[str, np.ndarray] = {"seed": np.array(SEEDS[name]), "boxes": boxes,
                                         "images": np.array([rel for rel, _ in FACES])}
        record.update({f"bn:{k}": v for k, v in bn[name].items()})
        crops = []
        for image, box in zip(images, boxes):
            center = np.array([box[2] - (box[2] - box[0]) / 2.0, box[3] - (box[3] - box[1]) / 2.0])
            center[1] -= (box[3] - box[1]) * 0.12
            crops.append(fa_crop(image, center, (box[2] - box[0] + box[3] - box[1]) / 195.0))
        record["crops"] = np.stack(crops)
        with torch.no_grad():
            inp = torch.from_numpy(record["crops"][:HEATMAP_FACES].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
            record["heatmaps"] = fan(inp)[-1].numpy()
        for flip in (False, True):
            fa = aligner(fan, dnet, flip)
            runs = [run_pipeline(fa, image, box) for image, box in zip(images, boxes)]
            for key in runs[0]:
                record[f"{key}_flip{int(flip)}"] = np.stack([r[key] for r in runs])
        if dnet is not None:
            record.update({f"depthbn:{k}": v for k, v in bn["resnetdepth"].items()})
            record["depth_seed"] = np.array(SEEDS["resnetdepth"])
        np.savez_compressed(args.out / f"parity_{name}.npz", **record)
        print(f"wrote {args.out / f'parity_{name}.npz'}")
    print(f"face-alignment {face_alignment.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
