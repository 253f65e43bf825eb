"""Model registry: architectures (graph builder, tensors, crop geometry) and the weight tags that fill them.

As in timm, an architecture and its weights are separate entries: ``2dfan4`` is a graph, ``2dfan4.official``
one set of weights for it, with its own sources, hashes, licence and decoding rule. Names are
``ARCHITECTURE[.TAG]``; a bare architecture name means its default tag.
"""
from __future__ import annotations

import importlib
import numbers
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import UnknownModelError

WeightsFormat = Literal["nnabla-h5", "torch"]
TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# the tag of a user's own weights (import or training): never one of the registered tags
LOCAL_TAG = "local"
CODE_LICENSE = "BSD-3-Clause"


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

    def matches(self, digest: str) -> bool:
        """Whether a file with this sha256 is this source's file (by its full or its published hash)."""
        if self.sha256:
            return digest == self.sha256
        return bool(self.sha256_prefix) and digest.startswith(self.sha256_prefix)


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and meaning of one network input or output. None in a shape is the batch axis."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    description: str = ""


@dataclass(frozen=True)
class Preprocessing:
    """The crop geometry FAN expects: the authors' box -> (centre, scale) -> square crop transform."""

    input_size: int = 256
    reference_scale: float = 195.0
    center_y_offset: float = 0.12
    heatmap_stride: int = 4
    # the authors' crop maps 200*scale pixels of the image onto input_size pixels
    scale_factor: float = 200.0
    pixel_range: tuple[float, float] = (0.0, 1.0)
    channel_order: str = "RGB"

    @property
    def heatmap_size(self) -> int:
        return self.input_size // self.heatmap_stride


def is_whole_number(value: object) -> bool:
    """An integer of any integer type (numpy's too) and not a bool: what counts and sizes must be."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class ModelSpec:
    """One architecture: what builds its graph and what goes in and out. No weights, no runtime."""

    name: str
    task: Literal["landmarks", "depth"]
    builder: str  # "module:function", imported only when the graph is built
    config: Mapping[str, Any]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    description: str
    preprocessing: Preprocessing | None = None
    depth_model: str | None = None  # a 3D landmark model names the network that predicts z
    aliases: tuple[str, ...] = ()
    params: int = 0  # parameter count, BatchNorm statistics included
    gmacs: float = 0.0  # multiply-accumulates per face, in 1e9
    paper: str = ""
    license: str = CODE_LICENSE  # of the architecture's code; each weight tag has its own
    # "package:folder" of its weight-free ONNX graph (tools/make_graphs.py); None: fanzoo.graphs:<name>
    graph: str | None = None
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
    # a landmark model's faces per network call when none is asked for (--batch-size / batch_size override it);
    # a 3D model's depth network runs on the landmark model's batches
    default_batch: int = 8

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


@dataclass(frozen=True)
class WeightTag:
    """One set of weights for an architecture: where it comes from, its licence, and how to decode it."""

    model: str  # the architecture
    tag: str
    license: str
    description: str = ""
    sources: tuple[WeightsSource, ...] = ()
    bundled: str | None = None  # path (relative to the fanzoo package) of weights shipped in the package
    # sub-pixel rule of the heatmap decoder (decoding.SUBPIXEL_RULES): the authors' quarter-pixel nudge
    # for their weights, a gaussian fit for weights trained with gaussian targets
    subpixel: str = "quarter"
    # relative tolerance (max |a-b| / max |ref|) that an artifact must meet against the NNabla graph
    tolerance: float = 1e-4
    metrics: Mapping[str, float] = field(default_factory=dict)
    default: bool = False
    depth_tag: str | None = None  # a 3D model's depth network tag; None: the same tag name
    user: bool = False  # made by the user (import, training), not registered by a plugin

    @property
    def name(self) -> str:
        return f"{self.model}.{self.tag}"

    @property
    def depth(self) -> str:
        return self.depth_tag or self.tag


def split_name(name: str) -> tuple[str, str | None]:
    """``"2dfan4.official"`` -> ``("2dfan4", "official")``; ``"2dfan4"`` -> ``("2dfan4", None)``."""
    arch, dot, tag = name.strip().lower().partition(".")
    return arch, (tag if dot else None)


def local_tag(spec: ModelSpec, tag: str = LOCAL_TAG, **fields: Any) -> WeightTag:
    """A user's weights for ``spec``: the authors' decoding unless the user says otherwise."""
    base: dict[str, Any] = {"license": "the user's own weights: terms as they came", "user": True,
                            "description": "weights imported or trained by the user"}
    base.update(fields)
    return WeightTag(spec.name, tag, **base)


class ModelRegistry:
    """Architectures by name and alias, and their registered weight tags. Filled through `register_models`."""

    def __init__(self, items: Iterable[ModelSpec | WeightTag] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}
        self._tags: dict[str, dict[str, WeightTag]] = {}
        for item in items:
            self.register(item)

    def register(self, item: ModelSpec | WeightTag) -> None:
        if isinstance(item, WeightTag):
            self._register_tag(item)
            return
        if not is_whole_number(item.default_batch) or item.default_batch < 1:
            raise ValueError(f"{item.name}: default_batch must be a whole number of at least 1, not {item.default_batch!r}")
        names = [item.name, *item.aliases]
        for n in names:
            if n != n.lower() or "." in n:
                raise ValueError(f"model names are lowercase, without dots: {n!r}")
            if n in self._specs or n in self._aliases:
                raise ValueError(f"model name {n!r} is registered twice")
        self._specs[item.name] = item
        for alias in item.aliases:
            self._aliases[alias] = item.name

    def _register_tag(self, tag: WeightTag) -> None:
        if not TAG_PATTERN.fullmatch(tag.tag) or tag.tag == LOCAL_TAG:
            raise ValueError(f"weight tag {tag.name!r}: tags are short lowercase words, and {LOCAL_TAG!r} is the "
                             "user's")
        tags = self._tags.setdefault(tag.model, {})
        if tag.tag in tags:
            raise ValueError(f"weight tag {tag.name!r} is registered twice")
        if tag.default and any(t.default for t in tags.values()):
            raise ValueError(f"{tag.model} has two default weight tags")
        tags[tag.tag] = tag

    def check(self) -> None:
        """Every tag belongs to a registered architecture (plugins may register tags before architectures)."""
        for model in self._tags:
            if model not in self._specs:
                raise ValueError(f"weight tags registered for {model!r}, which is not a registered architecture")

    def resolve(self, name: str) -> str:
        """The architecture's canonical name, from a name, an alias, or either with a tag."""
        arch, _ = split_name(name)
        key = self._aliases.get(arch, arch)
        if key not in self._specs:
            known = ", ".join(sorted(self._specs))
            raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
        return key

    def get(self, name: str) -> ModelSpec:
        return self._specs[self.resolve(name)]

    def tags(self, name: str) -> list[WeightTag]:
        """Registered tags of an architecture, the default first."""
        tags = list(self._tags.get(self.resolve(name), {}).values())
        return sorted(tags, key=lambda t: not t.default)

    def default_tag(self, name: str) -> WeightTag:
        """The registered default; an architecture without published weights defaults to the user's own."""
        spec = self.get(name)
        tags = self.tags(spec.name)
        if not tags:
            return local_tag(spec, default=True)
        return next((t for t in tags if t.default), tags[0])

    def registered_tag(self, name: str, tag: str) -> WeightTag | None:
        return self._tags.get(self.resolve(name), {}).get(tag)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        arch, _ = split_name(name)
        return arch in self._specs or arch in self._aliases

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())
