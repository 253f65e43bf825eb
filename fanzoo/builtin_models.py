"""The FAN family and ResNetDepth, and their weight tags, registered through the hook third-party plugins use."""
from __future__ import annotations

from collections.abc import Callable

from .hookspecs import hookimpl
from .registry import ModelSpec, Preprocessing, TensorSpec, WeightsSource, WeightTag

PAPER = ("Bulat & Tzimiropoulos, How far are we from solving the 2D & 3D Face Alignment problem? "
         "(and a dataset of 230,000 3D facial landmarks), ICCV 2017")
OFFICIAL_LICENSE = "the authors' terms (face-alignment), trained on 300W-LP: research use"
LITE_LICENSE = "non-commercial research use only: trained on 300-W, whose licence excludes commercial use"
NNABLA_URL = "https://nnabla.org/pretrained-models/nnabla-examples/face-alignment/"
AUTHORS_URL = "https://www.adrianbulat.com/downloads/python-fan/"

FAN_BUILDER = "fanzoo.models.fan:fan"
DEPTH_BUILDER = "fanzoo.models.resnet_depth:resnet_depth"

# (stacks, parameters incl. BN statistics, GMACs per face), counted from the graph by tests/test_registry.py
FAN_SIZES = {1: (6_264_644, 8.2678), 2: (12_134_536, 13.9236), 3: (18_004_428, 19.5795), 4: (23_874_320, 25.2353)}


def crop_input(size: int = 256) -> TensorSpec:
    return TensorSpec("x", (None, 3, size, size), description="RGB face crop in [0, 1]")


def heatmaps_output(size: int = 64) -> TensorSpec:
    return TensorSpec("heatmaps", (None, 68, size, size), description="one heatmap per landmark")


def official(model: str, nnabla_file: str, authors_file: str, **extra: object) -> WeightTag:
    """The authors' weights, from their site (published hash prefix) or nnabla-examples' conversion."""
    prefix = authors_file.rsplit("-", 1)[-1].split(".", 1)[0]
    sources = (
        WeightsSource(AUTHORS_URL + authors_file, "torch", sha256_prefix=prefix,
                      description="the authors' PyTorch checkpoint (face-alignment)"),
        WeightsSource(NNABLA_URL + nnabla_file, "nnabla-h5",
                      description="the authors' weights converted to NNabla by nnabla-examples"),
    )
    return WeightTag(model, "official", OFFICIAL_LICENSE, "the authors' weights (face-alignment 1.x)",
                     sources=sources, default=True, **extra)  # type: ignore[arg-type]


def fan_spec(stacks: int, name: str, **extra: object) -> ModelSpec:
    params, gmacs = FAN_SIZES[stacks]
    base = dict(
        name=name, task="landmarks", builder=FAN_BUILDER, config={"num_stacks": stacks},
        inputs=(crop_input(),), outputs=(heatmaps_output(),), preprocessing=Preprocessing(),
        description=f"2D-FAN with {stacks} stacked hourglass{'es' if stacks > 1 else ''}",
        params=params, gmacs=gmacs, paper=PAPER, box_framing="sfd",  # the authors' detector
        # FAN's activations are large (a 256-channel 64x64 map is 4 MB a face) and small batches keep them in the
        # caches: ONNX Runtime fp32 on 2 cores ran 1, 2 and 4 stacks 6.9%, 3.9% and 3.6% faster a face at batch 2
        # than at 8 (3 stacks, between them, was not measured), 3D-FAN's ResNetDepth 2.4% faster (batches
        # alternating), and a whole `fanzoo predict` of FAN-4 over 24 faces took a median 0.97x the time at batch
        # 2 (10 paired processes; 2026-12-04, 2-core Xeon with AVX-512)
        default_batch=2,
    )
    base.update(extra)
    return ModelSpec(**base)  # type: ignore[arg-type]


# fanzoo's own compact FAN, trained on 300-W (see MODEL_CARD.md); the model that works offline
LITE_CONFIG = {"num_stacks": 1, "width": 64, "stem": (16, 32), "depth": 4}
LITE_SIZE = 192
# MODEL_CARD.md: 300-W HELEN test (330 faces), dlib HOG boxes, outer-eye-corner NME
LITE_METRICS = {"helen_nme_eye": 0.0418, "helen_nme_eye_flip": 0.0408, "helen_nme_eye_gt_boxes": 0.0383,
                "helen_auc_008": 0.484, "helen_failure_rate_008": 0.030}


def lite_spec() -> ModelSpec:
    return ModelSpec(
        name="2dfan-lite", task="landmarks", builder=FAN_BUILDER, config=LITE_CONFIG,
        inputs=(crop_input(LITE_SIZE),), outputs=(heatmaps_output(LITE_SIZE // 4),),
        preprocessing=Preprocessing(input_size=LITE_SIZE), aliases=("lite", "fanzoo-lite"),
        description="compact 2D-FAN (1 stack, width 64, 192 px input) trained by fanzoo on 300-W; bundled (the first "
                    "version: the default is 2dfan-lite-v2)",
        params=402_308, gmacs=0.3144, paper=PAPER,
        box_framing="dlib-hog",  # trained on boxes placed as dlib HOG places them (fanzoo.training.boxes)
    )


# the second recipe's network (training_runs/2dfan-lite-v2, MODEL_CARD.md): 2dfan-lite's own. Wider variants
# measured over the 12 ms a face that the recipe may cost: width 72 and 80 took 1.5x its CPU time a face
# with ONNX Runtime at batch 1 (v1: 9.6 ms on 2 cores).
LITE_V2_CONFIG = LITE_CONFIG
# It takes CenterFace's boxes as they come. They are tall (1.32 x 1.02 landmark-box sides) and sit 0.16 of a
# side above the landmarks, so the crop moves down by 0.12 of the box height (the authors' rule moves it up
# by that much) and spans 200 (w + h) / 240 = 1.96 landmark-box sides: the face centred, its landmarks
# ~99 px wide in the 192 px crop instead of 80 px with the authors' constants (measured on the 2008 faces
# CenterFace finds among the 2012 training faces; training_runs/2dfan-lite-v2/box_model.json).
LITE_V2_PREPROCESSING = Preprocessing(input_size=LITE_SIZE, reference_scale=240.0, center_y_offset=-0.12)
# MODEL_CARD.md: 300-W HELEN test (330 faces), CenterFace boxes (the default detector), outer-eye-corner NME
LITE_V2_METRICS = {"helen_nme_eye": 0.0347, "helen_nme_eye_flip": 0.0339, "helen_nme_eye_gt_boxes": 0.0348,
                   "helen_nme_eye_dlib_hog": 0.0349, "helen_auc_008": 0.567, "helen_failure_rate_008": 0.003}


def lite_v2_spec() -> ModelSpec:
    return ModelSpec(
        name="2dfan-lite-v2", task="landmarks", builder=FAN_BUILDER, config=LITE_V2_CONFIG,
        inputs=(crop_input(LITE_SIZE),), outputs=(heatmaps_output(LITE_SIZE // 4),),
        preprocessing=LITE_V2_PREPROCESSING, box_framing="centerface",  # trained on CenterFace's own boxes
        description="2dfan-lite's network trained by fanzoo's second recipe on 300-W, for CenterFace's boxes; "
                    "bundled, the default",
        params=402_308, gmacs=0.3144, paper=PAPER,
    )


def builtin_specs() -> list[ModelSpec]:
    no_weights = "no official weights: the paper's network-size study (Sec. 6); train or import your own"
    return [
        fan_spec(4, "2dfan4", aliases=("2dfan", "2d-fan", "2d-fan-4")),
        fan_spec(4, "3dfan4", aliases=("3dfan", "3d-fan", "3d-fan-4"), depth_model="resnetdepth",
                 description="3D-FAN: 2D-FAN-4 trained on 3D projections; z comes from resnetdepth"),
        *(fan_spec(s, f"2dfan{s}", description=f"2D-FAN with {s} stack{'s' if s > 1 else ''} ({no_weights})")
          for s in (1, 2, 3)),
        ModelSpec(
            name="resnetdepth", task="depth", builder=DEPTH_BUILDER, config={},
            inputs=(TensorSpec("x", (None, 71, 256, 256),
                               description="RGB crop in [0, 1] and 68 gaussian landmark maps (sigma 2 px)"),),
            outputs=(TensorSpec("depth", (None, 68), description="z per landmark, in crop pixels / 4"),),
            description="ResNetDepth (ResNet-152 layout): 3D-FAN's depth network",
            aliases=("depth", "resnet-depth"), params=58_647_812, gmacs=18.5295, paper=PAPER,
            # int8 of its 152 layers (seeded, BatchNorm-calibrated weights) is off by up to 0.47 of the output range
            # against the reference tensors with 64 calibration faces (0.42 with 16), near the 0.5 int8 ceiling, and
            # its output is a regression (z), where every error lands in the result: 3dfan4 at int8 runs its
            # landmark network in int8 and this one in fp32
            int8=False,
        ),
        lite_spec(),
        lite_v2_spec(),
    ]


def builtin_tags() -> list[WeightTag]:
    return [
        official("2dfan4", "2DFAN4_NNabla_model.h5", "2DFAN4-11f355bf06.pth.tar"),
        official("3dfan4", "3DFAN4_NNabla_model.h5", "3DFAN4-7835d9f11d.pth.tar"),
        # 152 layers of float32 sums: ONNX Runtime and NNabla differ by ~1.5e-4 of the output range with
        # seeded weights (measured); 1e-3 is also the bound parity allows for z
        official("resnetdepth", "Resnet_Depth_NNabla_model.h5", "depth-2a464da4ea.pth.tar", tolerance=1e-3),
        WeightTag("2dfan-lite", "300w", LITE_LICENSE, "trained by fanzoo on the 300-W training faces (MODEL_CARD.md)",
                  bundled="bundled/2dfan-lite.h5", subpixel="gaussian", metrics=LITE_METRICS, default=True),
        WeightTag("2dfan-lite-v2", "300w", LITE_LICENSE, "trained by fanzoo's second recipe on the 300-W training "
                  "faces (MODEL_CARD.md)", bundled="bundled/2dfan-lite-v2.h5", subpixel="gaussian",
                  metrics=LITE_V2_METRICS, default=True),
    ]


@hookimpl
def register_models(register: Callable[[ModelSpec | WeightTag], None]) -> None:
    for spec in builtin_specs():
        register(spec)
    for tag in builtin_tags():
        register(tag)
