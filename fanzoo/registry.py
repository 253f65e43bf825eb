"""Model registry: specs are plain data (architecture ref, tensors, preprocessing, weights); graphs build lazily."""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import UnknownModelError

WeightsFormat = Literal["nnabla-h5", "torch"]


@dataclass(frozen=True)
class WeightsSource:
    """One place a model's weights can be fetched from, with what is known of its hash."""

    url: str
    format: WeightsFormat
    # Full sha256 when it is known. The authors' files only publish a 10-hex prefix in their names
    # (the torch.hub convention), so sha256_prefix is the check for those.
    sha256: str | None = None
    sha256_prefix: str | None = None
    description: str = ""

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and meaning of one network input or output. None in a shape is the batch axis."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    description: str = ""


@dataclass(frozen=True)
class Preprocessing:
    """The crop that FAN expects: the authors' box -> (centre, scale) -> square crop transform."""

    input_size: int = 256
    reference_scale: float = 195.0
    center_y_offset: float = 0.12
    heatmap_stride: int = 4
    # the authors' crop maps 200*scale pixels of the image onto input_size pixels
    scale_factor: float = 200.0
    pixel_range: tuple[float, float] = (0.0, 1.0)
    channel_order: str = "RGB"
    # sub-pixel rule of the heatmap decoder (decoding.SUBPIXEL_RULES): the authors' quarter-pixel nudge
    # for their models, a gaussian fit for the ones fanzoo trains with gaussian targets
    subpixel: str = "quarter"

    @property
    def heatmap_size(self) -> int:
        return self.input_size // self.heatmap_stride


@dataclass(frozen=True)
class ModelSpec:
    """Everything fanzoo knows about one model, without importing any runtime."""

    name: str
    task: Literal["landmarks", "depth"]
    builder: str  # "module:function", imported only when the graph is built
    config: Mapping[str, Any]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    description: str
    preprocessing: Preprocessing | None = None
    weights: tuple[WeightsSource, ...] = ()
    # path (relative to the fanzoo package) of weights shipped inside the package
    bundled_weights: str | None = None
    depth_model: str | None = None  # a 3D landmark model names the network that predicts z
    aliases: tuple[str, ...] = ()
    params: int = 0  # parameter count, BatchNorm statistics included
    gmacs: float = 0.0  # multiply-accumulates per face, in 1e9
    # relative tolerance (max |a-b| / max |ref|) that an exported artifact must meet against NNabla
    tolerance: float = 1e-4
    paper: str = ""
    license: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    # runtime and precision used when none is asked for: the fastest measured here whose accuracy cost is at most
    # +0.10 NME points (benchmarks/RESULTS.md, "Default precision and runtime"); --backend and --precision override
    default_backend: str = "onnxruntime"
    default_precision: str = "fp32"
    # layers int8 keeps in fp32, by role (fanzoo.export.quantize.ROLES), where quantizing them measurably hurts.
    # Measured on 2dfan-lite (HELEN test, NME change against fp32): nothing kept +0.027 points, head +0.028,
    # stem +0.032, both +0.034: no layer measurably hurts, so none is kept (benchmarks/RESULTS.md)
    int8_keep_fp32: tuple[str, ...] = ()
    # False where int8 was measured too far from fp32 for its use; a 3D model then runs this network in fp32 (announced)
    int8: bool = True
    # how the face boxes it was trained on frame a face (a name in fanzoo.detection.framing); detector boxes
    # are mapped to it. None: boxes are used as the detector gives them.
    box_framing: str | None = None

    @property
    def gflops(self) -> float:
        return 2.0 * self.gmacs

    @property
    def landmarks_dims(self) -> int:
        return 3 if self.depth_model else 2

    def build_function(self) -> Callable[..., Any]:
        """Import the graph builder (this imports nnabla)."""
        module_name, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module_name), attr)


class ModelRegistry:
    """Names and aliases -> specs. Filled through the `register_models` hook."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModelSpec) -> None:
        names = [spec.name, *spec.aliases]
        for n in names:
            if n != n.lower():
                raise ValueError(f"model names are lowercase: {n!r}")
            if n in self._specs or n in self._aliases:
                raise ValueError(f"model name {n!r} is registered twice")
        self._specs[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.name

    def resolve(self, name: str) -> str:
        key = name.lower()
        key = self._aliases.get(key, key)
        if key not in self._specs:
            known = ", ".join(sorted(self._specs))
            raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
        return key

    def get(self, name: str) -> ModelSpec:
        return self._specs[self.resolve(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name.lower() in self._specs or name.lower() in self._aliases)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return list(self._specs)

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)
