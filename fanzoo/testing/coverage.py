"""The conformance suite's coverage models: small seeded configurations of every registered architecture.

Together they contain every operator the real models use (FAN's ConvBlocks, concatenation, average
pooling, nearest upsampling and stack-to-stack adds; ResNetDepth's bottlenecks with and without a
downsample, residual adds, max pooling with padding and the Reshape + Gemm depth head), so a backend is
checked on all of them in seconds. Their artifacts ship in ``coverage/`` beside this module, made by
``tools/make_coverage_artifacts.py`` from the NNabla definitions; a core test proves they have not drifted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..builtin_models import DEPTH_BUILDER, FAN_BUILDER
from ..registry import ModelSpec, TensorSpec

COVERAGE_DIR = Path(__file__).resolve().parent / "coverage"
SEED = 7
# 300-W mean-shape points whose gaussian maps form the depth coverage model's landmark channels
# (outer eye corners, nose tip, left mouth corner)
DEPTH_LANDMARKS = (36, 45, 30, 48)


@dataclass(frozen=True)
class CoverageModel:
    """A small model standing in for one registered architecture (named by its builder)."""

    spec: ModelSpec
    covers: str  # the builder ("module:function") whose operators it exercises
    # relative error (max |a-b| / max |ref|) a backend may show against NNabla's outputs
    tolerance: float = 1e-4

    @property
    def name(self) -> str:
        return self.spec.name


def _fan() -> CoverageModel:
    landmarks = 8
    spec = ModelSpec(
        name="coverage-fan", task="landmarks", builder=FAN_BUILDER,
        # two stacks for the stack-to-stack 1x1 convs and adds; depth 2 keeps both hourglass branches
        config={"num_stacks": 2, "width": 16, "stem": (8, 16), "depth": 2, "num_landmarks": landmarks},
        inputs=(TensorSpec("x", (None, 3, 64, 64), description="RGB face crop in [0, 1]"),),
        outputs=(TensorSpec("heatmaps", (None, landmarks, 16, 16), description="one heatmap per landmark"),),
        description="conformance coverage model of FAN (2 stacks, width 16, 64 px)",
    )
    return CoverageModel(spec, FAN_BUILDER)


def _resnetdepth() -> CoverageModel:
    landmarks = len(DEPTH_LANDMARKS)
    spec = ModelSpec(
        name="coverage-resnetdepth", task="depth", builder=DEPTH_BUILDER,
        # two blocks a layer: each layer has a downsampling block and an identity-residual block; a 96 px
        # input leaves 3x3 before the average pooling, so pool 2 drops a row and column like 7 of 8 does
        config={"layers": (2, 2, 2, 2), "planes": (4, 8, 16, 32), "stem": 8, "pool": 2, "num_landmarks": landmarks},
        inputs=(TensorSpec("x", (None, 3 + landmarks, 96, 96),
                           description="RGB crop in [0, 1] and gaussian landmark maps"),),
        outputs=(TensorSpec("depth", (None, landmarks), description="z per landmark"),),
        description="conformance coverage model of ResNetDepth (8 bottlenecks, 96 px)",
        # as for the real ResNetDepth, int8 misses the int8 tolerance (0.25): measured 1.02 of the output range
        int8=False,
    )
    return CoverageModel(spec, DEPTH_BUILDER)


def coverage_models() -> tuple[CoverageModel, ...]:
    return (_fan(), _resnetdepth())


def coverage_folders() -> list[Path]:
    """The shipped artifact folder of every coverage model."""
    return [COVERAGE_DIR / model.name for model in coverage_models()]
