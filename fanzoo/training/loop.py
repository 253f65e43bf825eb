"""The NNabla training loop: Adam, intermediate supervision, validation NME, atomic resumable checkpoints.

Every random draw is keyed by (seed, iteration, sample), so a resumed run continues with exactly the
batches and augmentations the uninterrupted run would have used; a checkpoint holds only parameters,
solver state and the iteration number.
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..decoding import decode_heatmaps
from ..metrics import nme
from ..registry import ModelSpec
from .data import Augmentation, Sample, load_box_model, load_samples, make_example

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    model: str = "2dfan-lite"
    batch_size: int = 16
    learning_rate: float = 1e-3
    iterations: int = 6000
    lr_drops: tuple[float, ...] = (0.6, 0.85)  # fractions of the run where the rate is divided by 10
    weight_decay: float = 1e-5
    validate_every: int = 250
    checkpoint_every: int = 250
    validation_images: int = 100  # held out from the training folder, fixed by the seed
    seed: int = 0
    workers: int = 1  # data processes; NNabla itself uses one core
    augmentation: Augmentation = field(default_factory=Augmentation)

    def learning_rate_at(self, iteration: int) -> float:
        drops = sum(iteration >= f * self.iterations for f in self.lr_drops)
        return self.learning_rate * 0.1 ** drops


def split(samples: list[Sample], config: TrainConfig) -> tuple[list[Sample], list[Sample]]:
    order = np.random.default_rng([config.seed, 7]).permutation(len(samples))
    held = set(order[:config.validation_images].tolist())
    return ([s for i, s in enumerate(samples) if i not in held], [s for i, s in enumerate(samples) if i in held])


def batch_indices(config: TrainConfig, iteration: int, n: int) -> np.ndarray:
    per_epoch = n // config.batch_size
    epoch, step = divmod(iteration, per_epoch)
    order = np.random.default_rng([config.seed, epoch]).permutation(n)
    return order[step * config.batch_size:(step + 1) * config.batch_size]


_WORKER: dict = {}


def _init_worker(samples: list[Sample], pre, config: TrainConfig) -> None:  # noqa: ANN001
    _WORKER.update(samples=samples, pre=pre, config=config)


def _make_batch(iteration: int) -> tuple[np.ndarray, np.ndarray]:
    samples, pre, config = _WORKER["samples"], _WORKER["pre"], _WORKER["config"]
    xs, ts = [], []
    for k, index in enumerate(batch_indices(config, iteration, len(samples))):
        rng = np.random.default_rng([config.seed, iteration, k])
        x, t, _ = make_example(samples[index], pre, config.augmentation, rng)
        xs.append(x)
        ts.append(t)
    return np.stack(xs), np.stack(ts)


class Trainer:
    def __init__(self, spec: ModelSpec, config: TrainConfig, data_dir: Path, out_dir: Path) -> None:
        import nnabla as nn
        import nnabla.functions as F
        import nnabla.solvers as S

        self.spec, self.config, self.out_dir = spec, config, Path(out_dir)
        self.pre = spec.preprocessing
        box_model = load_box_model(Path(data_dir), self.out_dir / "box_model.json")
        self.train_samples, self.val_samples = split(load_samples(Path(data_dir), box_model), config)
        builder = spec.build_function()
        size, hm = self.pre.input_size, self.pre.heatmap_size
        self.scope: dict = {}
        with nn.parameter_scope("", self.scope):
            self.x = nn.Variable((config.batch_size, 3, size, size))
            self.t = nn.Variable((config.batch_size, 68, hm, hm))
            outputs = builder(self.x, train=True, all_stacks=True, **spec.config)
            self.loss = sum(F.mean(F.sum(F.squared_error(y, self.t), axis=(2, 3))) for y in outputs)
            self.val_x = nn.Variable((1, 3, size, size))
            self.val_y = builder(self.val_x, train=False, **spec.config)
            self.params = nn.get_parameters(grad_only=False)
        # initial weights from the seed alone (He-uniform), so two runs with one seed are the same run
        from ..weights.synthetic import synthetic_params
        for name, value in synthetic_params({k: v.shape for k, v in self.params.items()}, config.seed).items():
            self.params[name].d = value
        self.solver = S.Adam(config.learning_rate)
        with nn.parameter_scope("", self.scope):
            self.solver.set_parameters(nn.get_parameters(grad_only=True))
        self.iteration = 0
        self.best = math.inf

    # -- checkpoints ----------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoint"

    def save_checkpoint(self) -> None:
        import nnabla as nn

        with atomic_dir(self.checkpoint_dir) as tmp:
            with nn.parameter_scope("", self.scope):
                nn.save_parameters(str(tmp / "params.h5"))
            self.solver.save_states(str(tmp / "solver.h5"))
            (tmp / "state.json").write_text(json.dumps({"iteration": self.iteration, "best": self.best,
                                                        "config": asdict(self.config)}, indent=2, default=list))

    def load_checkpoint(self) -> bool:
        import nnabla as nn

        if not (self.checkpoint_dir / "state.json").is_file():
            return False
        state = json.loads((self.checkpoint_dir / "state.json").read_text())
        with nn.parameter_scope("", self.scope):
            nn.load_parameters(str(self.checkpoint_dir / "params.h5"))
        self.solver.load_states(str(self.checkpoint_dir / "solver.h5"))
        self.iteration, self.best = int(state["iteration"]), float(state["best"])
        return True

    def export_weights(self, path: Path) -> None:
        from ..weights.h5params import write_h5_params

        write_h5_params(path, {k: v.d.copy() for k, v in self.params.items()})

    # -- steps ----------------------------------------------------------------------------------------
    def step(self, x: np.ndarray, t: np.ndarray) -> float:
        self.x.d, self.t.d = x, t
        self.solver.set_learning_rate(self.config.learning_rate_at(self.iteration))
        self.loss.forward(clear_no_need_grad=True)
        self.solver.zero_grad()
        self.loss.backward(clear_buffer=True)
        self.solver.weight_decay(self.config.weight_decay)
        self.solver.update()
        self.iteration += 1
        return float(self.loss.d)

    def validate(self) -> float:
        """Mean NME (outer eye corners) on the held-out faces, boxes as the detector would draw them."""
        from ..decoding import heatmap_to_image
        from ..preprocessing import box_to_center_scale

        errors = []
        for sample in self.val_samples:
            x, _, _ = make_example(sample, self.pre, None, np.random.default_rng(0))
            self.val_x.d = x[None]
            self.val_y.forward(clear_buffer=True)
            coords, _ = decode_heatmaps(np.array(self.val_y.d))
            center, scale = box_to_center_scale(sample.box, self.pre)
            errors.append(nme(heatmap_to_image(coords[0], center, scale, self.pre.heatmap_size), sample.points))
        return float(np.mean(errors))


def train(spec: ModelSpec, config: TrainConfig, data_dir: Path, out_dir: Path, resume: bool = True,
          max_iterations: int | None = None, progress: bool | None = None) -> Path:
    """Train (or continue) until ``config.iterations``; returns the best weights' path."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(spec, config, data_dir, out_dir)
    if resume and trainer.load_checkpoint():
        log.info("resumed at iteration %d (best validation NME %.4f)", trainer.iteration, trainer.best)
    end = config.iterations if max_iterations is None else min(config.iterations, trainer.iteration + max_iterations)
    best_path, log_path = out_dir / "best.h5", out_dir / "log.jsonl"
    ctx = multiprocessing.get_context("spawn")  # workers never inherit NNabla's state
    show = sys.stderr.isatty() if progress is None else progress
    with ctx.Pool(config.workers, _init_worker, (trainer.train_samples, trainer.pre, config)) as pool, \
            tqdm(total=end, initial=trainer.iteration, disable=not show, desc="train") as bar:
        pending: deque = deque(pool.apply_async(_make_batch, (i,)) for i in range(trainer.iteration,
                                                                                      min(end, trainer.iteration + 4)))
        next_submit = trainer.iteration + len(pending)
        losses, started = [], time.time()
        while trainer.iteration < end:
            x, t = pending.popleft().get()
            if next_submit < end:
                pending.append(pool.apply_async(_make_batch, (next_submit,)))
                next_submit += 1
            losses.append(trainer.step(x, t))
            bar.update(1)
            if trainer.iteration % config.validate_every == 0 or trainer.iteration == end:
                val = trainer.validate()
                record = {"iteration": trainer.iteration, "loss": float(np.mean(losses)), "val_nme": val,
                          "lr": config.learning_rate_at(trainer.iteration - 1),
                          "seconds": round(time.time() - started, 1)}
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
                log.info("iteration %d loss %.4f val NME %.4f", trainer.iteration, record["loss"], val)
                bar.set_postfix(loss=f"{record['loss']:.3f}", val_nme=f"{val:.4f}")
                losses = []
                if val < trainer.best:
                    trainer.best = val
                    trainer.export_weights(best_path)
            if trainer.iteration % config.checkpoint_every == 0 or trainer.iteration == end:
                trainer.save_checkpoint()
    if not best_path.is_file():
        trainer.export_weights(best_path)
    return best_path


def summary(log_path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]


