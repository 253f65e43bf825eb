"""The training recipe (TrainConfig) and its JSON form, which a run folder keeps so a resume uses the same recipe."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .data import Augmentation


@dataclass(frozen=True)
class TrainConfig:
    """One run's recipe. The model is a registry name: its spec gives the graph and the preprocessing.

    The defaults are the recipe of the bundled 2dfan-lite (training_runs/2dfan-lite/checkpoint/state.json
    records the one it was trained with).
    """

    model: str = "2dfan-lite"
    batch_size: int = 16
    learning_rate: float = 1e-3
    iterations: int = 3500  # ~29 epochs of the 1912 training faces at batch 16
    lr_drops: tuple[float, ...] = (0.7, 0.9)  # fractions of the run where the rate is divided by 10
    weight_decay: float = 1e-5
    validate_every: int = 250
    checkpoint_every: int = 250
    validation_images: int = 100  # held out from the training folder, fixed by the seed
    seed: int = 0
    # weight of target pixels in the loss: (y - t)^2 * (1 + foreground_weight * t). 0 is the plain sum of
    # squares; more pulls the few peak pixels up faster than the thousands of background ones pull down
    foreground_weight: float = 10.0
    augmentation: Augmentation = field(default_factory=Augmentation)

    def learning_rate_at(self, iteration: int) -> float:
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
            aug_known = {f.name for f in fields(Augmentation)}
            values["augmentation"] = Augmentation(**{k: v for k, v in values["augmentation"].items()
                                                     if k in aug_known})
        return cls(**values)

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}

    def with_changes(self, **changes: Any) -> TrainConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
