"""One training process's state: the graph with its loss, the solver, a step, the weight check and validation.

Rank r of ``ranks`` processes computes positions [r*b, (r+1)*b) of every batch (b = batch_size / ranks),
with the same per-position random draws as a single process, so the batches do not depend on the count.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ..decoding import decode_heatmaps, heatmap_to_image
from ..metrics import nme
from ..preprocessing import box_to_center_scale
from ..registry import ModelSpec
from .boxes import load_box_model, load_detections
from .checkpoints import read_checkpoint, write_checkpoint
from .config import TrainConfig
from .crops import cached_regions
from .data import load_samples, make_example
from .parallel import Exchange, flatten, unflatten
from .randomness import RNG_SCHEME, batch_indices, example_rng, initial_params, split

# fanzoo trains towards gaussian heatmaps, whose peaks the gaussian fit decodes: the sub-pixel rule of the
# weights it trains (and the one `fanzoo train --import-weights` records for them)
TRAINED_SUBPIXEL = "gaussian"

log = logging.getLogger(__name__)


class Trainer:
    """The graph, the solver and the run state of one run folder, in one of ``ranks`` processes."""

    def __init__(self, spec: ModelSpec, config: TrainConfig, data_dir: Path, out_dir: Path,
                 rank: int = 0, ranks: int = 1, progress: bool = False) -> None:
        import nnabla as nn
        import nnabla.solvers as S

        from .losses import heatmap_loss

        if ranks < 1 or config.batch_size % ranks:
            raise ValueError(f"batch size {config.batch_size} does not split over {ranks} processes")
        self.spec, self.config, self.out_dir = spec, config, Path(out_dir)
        self.rank, self.ranks = rank, ranks
        self.exchange: Exchange | None = None
        self.pre = spec.preprocessing
        detected = None
        if config.detector_boxes:
            detected = load_detections(Path(data_dir), self.out_dir / "detections.json", config.box_detector,
                                       progress=progress)
        box_model = load_box_model(Path(data_dir), self.out_dir / "box_model.json", config.box_detector, detected)
        samples = load_samples(Path(data_dir), box_model, detected)
        self.regions, self.frames = cached_regions(samples, self.pre, self.out_dir / "cache", progress=progress)
        train_ids, val_ids = split(list(range(len(samples))), config)
        self.train_samples = [(samples[i], i) for i in train_ids]
        self.val_samples = [(samples[i], i) for i in val_ids]
        if len(self.train_samples) < config.batch_size:
            raise ValueError(f"{len(self.train_samples)} training faces are fewer than one batch")
        builder = spec.build_function()
        size, hm = self.pre.input_size, self.pre.heatmap_size
        share = config.batch_size // ranks
        self.scope: dict = {}
        with nn.parameter_scope("", self.scope):
            self.x = nn.Variable((share, 3, size, size))
            self.t = nn.Variable((share, 68, hm, hm))
            # intermediate supervision: every stack's heatmaps are pulled toward the target
            outputs = builder(self.x, train=True, all_stacks=True, **spec.config)
            self.loss = sum(heatmap_loss(y, self.t, config) for y in outputs)
            self.val_x = nn.Variable((1, 3, size, size))
            self.val_y = builder(self.val_x, train=False, **spec.config)
            self.params = nn.get_parameters(grad_only=False)
            trainable = nn.get_parameters(grad_only=True)
        for name, value in initial_params({k: v.shape for k, v in self.params.items()}, config.seed).items():
            self.params[name].d = value
        # fixed name order: every rank packs and unpacks the exchanged vector the same way
        self.trainable = [trainable[k] for k in sorted(trainable)]
        self.statistics = [v for k, v in sorted(self.params.items()) if k not in trainable]
        self.solver = S.Adam(config.learning_rate)
        self.solver.set_parameters(trainable)
        self.iteration = 0
        self.best = math.inf
        self.train_seconds = 0.0  # summed over resumes, for iterations per hour

    # -- checkpoints ----------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        state = {"iteration": self.iteration, "best": self.best, "train_seconds": round(self.train_seconds, 1),
                 "processes": self.ranks, "config": self.config.to_dict(),
                 "rng": {"seed": self.config.seed, **RNG_SCHEME}}
        write_checkpoint(self.out_dir, self.scope, self.solver, state)

    def load_checkpoint(self) -> bool:
        state = read_checkpoint(self.out_dir, self.scope, self.solver)
        if state is None:
            return False
        self.iteration, self.best = int(state["iteration"]), float(state["best"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        before = state.get("processes")
        if self.rank == 0 and before is not None and before != self.ranks:
            # batches stay the same, but BatchNorm normalises over each process's share of them
            log.warning("this run trained with %d processes (BatchNorm over %d faces each); going on with %d "
                        "changes that", before, self.config.batch_size // before, self.ranks)
        return True

    def export_weights(self, path: Path) -> None:
        """Official-style parameter names, float32, written atomically."""
        from ..weights.h5params import write_h5_params

        write_h5_params(path, {k: v.d.astype(np.float32) for k, v in self.params.items()})

    # -- steps ----------------------------------------------------------------------------------------
    def batch(self, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        """This rank's share of the iteration's batch: inputs and targets."""
        share = self.config.batch_size // self.ranks
        indices = batch_indices(self.config, iteration, len(self.train_samples))
        xs, ts = [], []
        for k in range(self.rank * share, (self.rank + 1) * share):
            sample, region = self.train_samples[indices[k]]
            x, t, _ = make_example(sample, self.pre, self.config.augmentation, example_rng(self.config, iteration, k),
                                   self.regions[region], self.frames[region])
            xs.append(x)
            ts.append(t)
        return np.stack(xs), np.stack(ts)

    def exchange_vector_length(self) -> int:
        return 1 + sum(v.size for v in self.trainable) + sum(v.size for v in self.statistics)

    def step(self) -> float:
        """One iteration; with an exchange, gradients, loss and BatchNorm statistics are averaged over
        the ranks before the (then identical) update."""
        self.x.d, self.t.d = self.batch(self.iteration)
        self.solver.set_learning_rate(self.config.learning_rate_at(self.iteration))
        self.loss.forward(clear_no_need_grad=True)
        self.solver.zero_grad()
        self.loss.backward(clear_buffer=True)
        loss = float(self.loss.d)
        if self.exchange is not None:
            mean = self.exchange.average(flatten([np.array([loss])] + [v.g for v in self.trainable]
                                                 + [v.d for v in self.statistics]))
            shapes = [(1,)] + [v.shape for v in self.trainable] + [v.shape for v in self.statistics]
            parts = unflatten(mean, shapes)
            loss = float(parts[0][0])
            for v, g in zip(self.trainable, parts[1:1 + len(self.trainable)]):
                v.g = g
            for v, d in zip(self.statistics, parts[1 + len(self.trainable):]):
                v.d = d
        self.solver.weight_decay(self.config.weight_decay)
        self.solver.update()
        self.iteration += 1
        return loss

    def check_in_sync(self) -> None:
        """Every rank must hold the same weights; a mismatch means the exchange is broken: stop loudly."""
        if self.exchange is None:
            return
        if not self.exchange.all_equal(flatten([v.d for v in self.trainable] + [v.d for v in self.statistics])):
            raise RuntimeError(f"training process {self.rank} drifted from the others at iteration {self.iteration}")

    def validate(self) -> float:
        """Mean NME (outer eye corners) on the held-out faces, boxes as the detector would draw them."""
        errors = []
        for sample, region in self.val_samples:
            x, _, _ = make_example(sample, self.pre, None, np.random.default_rng(0), self.regions[region],
                                   self.frames[region])
            self.val_x.d = x[None]
            self.val_y.forward(clear_buffer=True)
            # the targets are gaussians, so the gaussian fit is their sub-pixel rule (TRAINED_SUBPIXEL)
            coords, _ = decode_heatmaps(np.array(self.val_y.d), TRAINED_SUBPIXEL)
            center, scale = box_to_center_scale(sample.box, self.pre)
            points = heatmap_to_image(coords[0], center, scale, self.pre.heatmap_size, self.pre.scale_factor)
            errors.append(nme(points, sample.points))
        return float(np.mean(errors))
