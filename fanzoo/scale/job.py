"""What a scale-out job computes: model, detector, boxes, flip and runtime settings, shipped to every Ray worker."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..api import DEFAULT_DETECTOR, DEFAULT_MODEL
from ..detection import ALL_IMAGES, FaceBox
from ..errors import InputError


@dataclass(frozen=True)
class AlignJob:
    """The settings of one alignment job; frozen and picklable, so every worker builds the same predictor.

    ``boxes`` skips the detector with the same boxes for every image; ``boxes_by_name`` maps an image *file
    name* (``"*"`` for any other) to its boxes, as ``--boxes-json`` does. ``threads`` is each landmark actor's
    runtime threads and CPUs reserved for it (1 keeps a node's actors from oversubscribing its cores).
    """

    model: str = DEFAULT_MODEL
    backend: str | None = None  # None: the model's default backend and precision (as load_predictor)
    precision: str | None = None
    device: str = "cpu"
    detector: str | None = DEFAULT_DETECTOR
    detector_options: tuple[tuple[str, Any], ...] = ()  # load_predictor's detector_options, as sorted pairs
    flip: bool = False
    artifacts: Path | None = None
    threads: int = 1
    batch_size: int | None = None  # None: the model's default (ModelSpec.default_batch)
    boxes: tuple[FaceBox, ...] = ()
    boxes_by_name: tuple[tuple[str, tuple[FaceBox, ...]], ...] | None = None
    boxes_source: str = "the boxes"  # where boxes_by_name came from (the --boxes-json file), for messages
    weights_sha256: str | None = field(default=None, compare=False)  # filled in by the driver, for the results

    @classmethod
    def with_boxes(cls, boxes: Sequence[FaceBox] = (), by_name: Mapping[str, Sequence[FaceBox]] | None = None,
                   detector_options: Mapping[str, Any] | None = None, boxes_source: Path | str | None = None,
                   **settings: object) -> AlignJob:
        """An AlignJob from the CLI's forms of given boxes (a list, or file name -> list, read from
        ``boxes_source``) and detection options."""
        named = None if by_name is None else tuple(sorted((k, tuple(v)) for k, v in by_name.items()))
        options = tuple(sorted((detector_options or {}).items()))
        return cls(boxes=tuple(boxes), boxes_by_name=named, detector_options=options,  # type: ignore[arg-type]
                   boxes_source=str(boxes_source or "the boxes"), **settings)

    @property
    def detects(self) -> bool:
        """Whether the job runs a detector (given boxes replace it)."""
        return self.detector is not None and not self.boxes and self.boxes_by_name is None

    def boxes_for(self, path: Path) -> list[FaceBox] | None:
        """The given boxes of one image, or None to run the detector."""
        if self.boxes:
            return list(self.boxes)
        if self._named is None:
            return None
        found = self._named.get(path.name, self._named.get(ALL_IMAGES))
        if found is None:  # never a silent "no faces" (as the local engine): the user meant to give its boxes
            raise InputError(f"not listed in {self.boxes_source} (add its file name, or a \"*\" entry for every image)")
        return list(found)

    @cached_property
    def _named(self) -> dict[str, tuple[FaceBox, ...]] | None:
        return None if self.boxes_by_name is None else dict(self.boxes_by_name)

    def identity(self) -> dict[str, object]:
        """What decides the answers; a rerun into the same results folder must agree on all of it."""
        given = self.boxes or self.boxes_by_name is not None
        boxes = {"all": [[*b.as_tuple(), b.score] for b in self.boxes],
                 "by_name": {k: [[*b.as_tuple(), b.score] for b in v] for k, v in self.boxes_by_name or ()}}
        # a digest, not the boxes: a --boxes-json of a million images would otherwise sit in every shard
        digest = hashlib.sha256(json.dumps(boxes, sort_keys=True).encode()).hexdigest() if given else None
        return {"model": self.model, "weights_sha256": self.weights_sha256, "precision": self.precision, "flip": self.flip,
                "detector": self.detector if self.detects else None,
                "detector_options": dict(self.detector_options) if self.detects else {}, "boxes_sha256": digest}
