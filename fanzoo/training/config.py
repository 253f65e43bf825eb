"""The training recipe (TrainConfig), its JSON form that a run folder keeps, and the named recipes.

A resume uses the run folder's own copy of the recipe, so changing a default here never changes a
half-trained run.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import InputError
from .augment import Augmentation

SCHEDULES = ("step", "cosine")
LOSSES = ("weighted-mse", "awing")


@dataclass(frozen=True)
class TrainConfig:
    """One run's recipe. The model is a registry name: its spec gives the graph and the preprocessing.

    The defaults are the recipe of the bundled 2dfan-lite (training_runs/2dfan-lite/checkpoint/state.json
    records the one it was trained with); RECIPES holds the named ones.
    """

    model: str = "2dfan-lite"
    recipe: str = ""  # the name in RECIPES this one started from ("" for the defaults)
    batch_size: int = 16
    learning_rate: float = 1e-3
    iterations: int = 3500  # ~29 epochs of the 1912 training faces at batch 16
    # "step": divided by 10 at each fraction in lr_drops; "cosine": half a cosine from the peak down to
    # learning_rate * lr_floor at the last iteration, after `warmup` iterations rising linearly from 0
    schedule: str = "step"
    lr_drops: tuple[float, ...] = (0.7, 0.9)  # fractions of the run where the rate is divided by 10
    lr_floor: float = 0.0
    warmup: int = 0
    weight_decay: float = 1e-5
    validate_every: int = 250
    checkpoint_every: int = 250
    validation_images: int = 100  # held out from the training folder, fixed by the seed
    seed: int = 0
    loss: str = "weighted-mse"  # see losses.py
    # weight of target pixels in the loss: (y - t)^2 * (1 + foreground_weight * t). 0 is the plain sum of
    # squares; more pulls the few peak pixels up faster than the thousands of background ones pull down.
    # With the awing loss it is the weight W of the dilated foreground mask instead.
    foreground_weight: float = 10.0
    box_detector: str = "dlib-hog"  # the registered detector whose box framing the training crops copy
    # True: each face's crop comes from the detector's own box for it (its typical placement where it misses
    # the face); False: every box is the typical placement (boxes.py)
    detector_boxes: bool = False
    augmentation: Augmentation = field(default_factory=Augmentation)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown learning-rate schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if self.loss not in LOSSES:
            raise InputError(f"unknown heatmap loss {self.loss!r}; choose from {', '.join(LOSSES)}")

    def learning_rate_at(self, iteration: int) -> float:
        if self.warmup and iteration < self.warmup:
            return self.learning_rate * (iteration + 1) / self.warmup
        if self.schedule == "cosine":
            span = max(1, self.iterations - self.warmup)
            progress = min(1.0, (iteration - self.warmup) / span)
            return self.learning_rate * (self.lr_floor + (1 - self.lr_floor) * 0.5 * (1 + math.cos(math.pi * progress)))
        drops = sum(iteration >= f * self.iterations for f in self.lr_drops)
        return self.learning_rate * 0.1 ** drops

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of to_dict; keys this version does not know are ignored, missing ones keep defaults."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "lr_drops" in values:
            values["lr_drops"] = tuple(values["lr_drops"])  # JSON has no tuples; the dataclass is hashable
        if isinstance(values.get("augmentation"), Mapping):
            aug_fields = {f.name: f for f in fields(Augmentation)}
            values["augmentation"] = Augmentation(**{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in values["augmentation"].items() if k in aug_fields})
        return cls(**values)

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}

    def with_changes(self, **changes: Any) -> TrainConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def with_settings(self, settings: Mapping[str, Any]) -> TrainConfig:
        """The recipe with fields set by name, ``augmentation.NAME`` for augmentation ones (ablations)."""
        top: dict[str, Any] = {}
        aug: dict[str, Any] = {}
        top_names, aug_names = {f.name for f in fields(self)}, {f.name for f in fields(Augmentation)}
        for key, value in settings.items():
            group, _, name = key.rpartition(".")
            if group == "augmentation" and name in aug_names:
                aug[name] = _same_kind(key, getattr(self.augmentation, name), value)
            elif not group and name in top_names - {"augmentation"}:
                top[name] = _same_kind(key, getattr(self, name), value)
            else:
                raise InputError(f"unknown recipe setting {key!r}; settings are TrainConfig fields "
                                 "(e.g. loss, iterations) or augmentation.FIELD (e.g. augmentation.rotation)")
        return replace(self, **top, augmentation=replace(self.augmentation, **aug))


def _same_kind(key: str, current: Any, value: Any) -> Any:
    """``value`` as the kind of ``current`` (a float field takes an int, a tuple field a list), else InputError."""
    if isinstance(current, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(current) is not type(value):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."  # a setting, not a file's worth
        raise InputError(f"recipe setting {key} takes a value of type {type(current).__name__}, got {shown}")
    return value


# 100 epochs of the 1912 training faces at batch 16 (119.5 iterations an epoch)
V2_ITERATIONS = 12_000

RECIPES: dict[str, TrainConfig] = {
    "2dfan-lite-v1": TrainConfig(model="2dfan-lite", recipe="2dfan-lite-v1"),
    # MODEL_CARD.md, "2dfan-lite v2", says why each change
    "2dfan-lite-v2": TrainConfig(
        model="2dfan-lite-v2", recipe="2dfan-lite-v2",
        # 100 epochs instead of 29, a cosine decay to 1% after a short linear warm-up
        iterations=V2_ITERATIONS, schedule="cosine", lr_drops=(), lr_floor=0.01, warmup=250,
        # Adaptive Wing loss with its weighted loss map (W = 10)
        loss="awing", foreground_weight=10.0,
        # the default detector's own box for each face
        box_detector="centerface", detector_boxes=True,
        augmentation=Augmentation(rotation=40.0, rotate_p=0.7, scale=0.2, shift=0.08, colour=0.3,
                                  occlusion=0.4, blur=0.2, jpeg=0.25, contrast=0.3, grey=0.1),
    ),
}


# the recipe a model trains with when none is named
MODEL_RECIPES = {"2dfan-lite": "2dfan-lite-v1", "2dfan-lite-v2": "2dfan-lite-v2"}


def recipe_for(model: str, name: str | None = None) -> TrainConfig:
    """The named recipe (by default the model's own in MODEL_RECIPES, else the defaults) for ``model``."""
    if name is None:
        base = RECIPES[MODEL_RECIPES[model]] if model in MODEL_RECIPES else TrainConfig()
    elif name in RECIPES:
        base = RECIPES[name]
    else:
        raise InputError(f"unknown training recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    return replace(base, model=model)
