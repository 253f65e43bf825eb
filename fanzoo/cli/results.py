"""What `fanzoo predict` writes per result: the streamed JSON document, annotated images and .pts files."""
from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..batch import PathResult
from ..errors import InputError
from ..records import result_record


class ResultsJson:
    """The predict JSON document, written one image at a time so memory stays bounded on any folder.

    A file target is written atomically: it appears complete when the run ends, and not at all if it fails.
    """

    def __init__(self, target: str | None, header: dict[str, Any]) -> None:
        self.target, self.header = target, header
        self._stack = contextlib.ExitStack()
        self._out: IO[str] | None = None
        self._count = 0

    def __enter__(self) -> ResultsJson:
        if self.target is None:
            return self
        if self.target == "-":
            self._out = sys.stdout
        else:
            from ..atomic import atomic_path

            tmp = self._stack.enter_context(atomic_path(Path(self.target)))
            self._out = self._stack.enter_context(open(tmp, "w", encoding="utf-8"))
        head = json.dumps({**self.header, "images": []}, indent=2)
        self._out.write(head[: head.rindex("[") + 1])  # everything up to the opening of "images"
        return self

    def add(self, result: PathResult) -> None:
        if self._out is None:
            return
        text = json.dumps(result_record(result), indent=2).replace("\n", "\n    ")
        self._out.write(("," if self._count else "") + "\n    " + text)
        self._count += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._out is not None and kind is None:
            self._out.write("\n  ]\n}\n" if self._count else "]\n}\n")
            self._out.flush()
        # closing the file and renaming it into place (or removing it after a failure)
        self._stack.__exit__(kind, exc, tb)


class OutputClaims:
    """Every file one run writes, and for which input: no output may replace another of the same run (two
    photos named x.jpg in two folders, or x.jpg's second face and a photo named x_1.jpg), nor an input."""

    def __init__(self, inputs: Iterable[Path]) -> None:
        self._inputs = {p.resolve() for p in inputs}
        self._owner: dict[Path, Path] = {}

    def claim(self, target: Path, source: Path) -> None:
        key = target.resolve()
        if key in self._inputs:
            raise InputError(f"{target} is one of the inputs; refusing to overwrite it")
        owner = self._owner.setdefault(key, source)
        if owner != source:
            raise InputError(f"{target} was already written for {owner} in this run; rename one of the two")


def output_targets(result: PathResult, output: Path | None, single: bool, pts_dir: Path | None
                   ) -> tuple[Path | None, list[Path]]:
    """The annotated image and the .pts files a result is written to (see the README for the names)."""
    image = None
    if output is not None:
        # predict's check_output has already refused a file name for several inputs or an unwritable suffix
        image = output if single and output.suffix else output / f"{result.path.stem}_landmarks.png"
    pts = []
    if pts_dir is not None:
        for k in range(len(result.faces)):
            name = result.path.stem if len(result.faces) == 1 else f"{result.path.stem}_{k}"
            pts.append(pts_dir / f"{name}.pts")
    return image, pts


def write_outputs(result: PathResult, output: Path | None, single: bool, pts_dir: Path | None,
                  claims: OutputClaims | None = None) -> None:
    from ..draw import annotate
    from ..imageio import load_image, write_image
    from ..pts import write_pts

    image_target, pts_targets = output_targets(result, output, single, pts_dir)
    if claims is not None:  # all of them before any is written: a result's outputs are written whole or not at all
        for target in ([image_target] if image_target else []) + pts_targets:
            claims.claim(target, result.path)
    if image_target is not None:
        # drawn on the decode the predictor saw: a huge image stays reduced, so memory stays bounded
        image = load_image(result.path)
        write_image(image_target, annotate(image.rgb, [f.scaled(1.0 / image.scale) for f in result.faces]))
    for target, face in zip(pts_targets, result.faces):
        write_pts(target, face.landmarks)
