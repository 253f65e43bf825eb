"""The NNabla training loop: Adam, intermediate supervision, validation NME, atomic resumable checkpoints.

Every random draw is keyed by (seed, iteration, sample), so a resumed run continues with exactly the
batches and augmentations the uninterrupted run would have used. That key is the whole RNG state: a
checkpoint holds parameters (BatchNorm statistics included), Adam's state, the iteration, the best
validation NME, the cumulative training time and the recipe, which a resume reuses.
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..decoding import decode_heatmaps
from ..metrics import nme
from ..registry import ModelSpec
from .config import TrainConfig
from .data import Sample, load_box_model, load_samples, make_example

__all__ = ["TrainConfig", "Trainer", "summary", "train"]

log = logging.getLogger(__name__)
PROGRESS_EVERY = 50  # iterations between progress lines in the log when no bar is shown

# what state.json says about randomness: nothing else needs saving, because nothing draws sequentially
RNG_SCHEME = {
    "init": "He-uniform from PCG64([seed, crc32(parameter name)])",
    "split": "PCG64([seed, 7]).permutation(faces)[:validation_images] are held out",
    "order": "PCG64([seed, epoch]).permutation(training faces), batch_size per step",
    "augmentation": "PCG64([seed, iteration, index in batch])",
}


def split(samples: list[Sample], config: TrainConfig) -> tuple[list[Sample], list[Sample]]:
    order = np.random.default_rng([config.seed, 7]).permutation(len(samples))
    held = set(order[:config.validation_images].tolist())
    return ([s for i, s in enumerate(samples) if i not in held], [s for i, s in enumerate(samples) if i in held])


def batch_indices(config: TrainConfig, iteration: int, n: int) -> np.ndarray:
    per_epoch = n // config.batch_size
    epoch, step = divmod(iteration, per_epoch)
    order = np.random.default_rng([config.seed, epoch]).permutation(n)
    return order[step * config.batch_size:(step + 1) * config.batch_size]


# -- the data process: cuts and augments batches while the main process runs NNabla on the other core ----
_WORKER: dict = {}


def _init_worker(samples: list[Sample], pre, config: TrainConfig) -> None:  # noqa: ANN001
    import cv2

    cv2.setNumThreads(1)  # OpenCV's own thread pool would take cycles from NNabla's core
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
    """The graph, the solver and the run state of one run folder."""

    def __init__(self, spec: ModelSpec, config: TrainConfig, data_dir: Path, out_dir: Path) -> None:
        import nnabla as nn
        import nnabla.functions as F
        import nnabla.solvers as S

        self.spec, self.config, self.out_dir = spec, config, Path(out_dir)
        self.pre = spec.preprocessing
        box_model = load_box_model(Path(data_dir), self.out_dir / "box_model.json")
        self.train_samples, self.val_samples = split(load_samples(Path(data_dir), box_model), config)
        if len(self.train_samples) < config.batch_size:
            raise ValueError(f"{len(self.train_samples)} training faces are fewer than one batch")
        builder = spec.build_function()
        size, hm = self.pre.input_size, self.pre.heatmap_size
        self.scope: dict = {}
        with nn.parameter_scope("", self.scope):
            self.x = nn.Variable((config.batch_size, 3, size, size))
            self.t = nn.Variable((config.batch_size, 68, hm, hm))
            # intermediate supervision: every stack's heatmaps are pulled toward the target
            outputs = builder(self.x, train=True, all_stacks=True, **spec.config)
            # per-map sum of squared errors, averaged over maps: a per-pixel mean would shrink the
            # gradient of the few peak pixels by H*W and slow the start of training
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
        self.train_seconds = 0.0  # summed over resumes, for iterations per hour

    # -- checkpoints ----------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoint"

    def save_checkpoint(self) -> None:
        """Replace the checkpoint folder as a whole: an interrupt leaves the previous one intact."""
        import nnabla as nn

        with atomic_dir(self.checkpoint_dir) as tmp:
            with nn.parameter_scope("", self.scope):
                nn.save_parameters(str(tmp / "params.h5"))
            self.solver.save_states(str(tmp / "solver.h5"))
            state = {"iteration": self.iteration, "best": self.best, "train_seconds": round(self.train_seconds, 1),
                     "config": self.config.to_dict(), "rng": {"seed": self.config.seed, **RNG_SCHEME}}
            (tmp / "state.json").write_text(json.dumps(state, indent=2, default=list))

    @staticmethod
    def stored_config(out_dir: Path) -> TrainConfig | None:
        path = Path(out_dir) / "checkpoint" / "state.json"
        if not path.is_file():
            return None
        return TrainConfig.from_dict(json.loads(path.read_text())["config"])

    def load_checkpoint(self) -> bool:
        import nnabla as nn

        if not (self.checkpoint_dir / "state.json").is_file():
            return False
        state = json.loads((self.checkpoint_dir / "state.json").read_text())
        with nn.parameter_scope("", self.scope):
            nn.load_parameters(str(self.checkpoint_dir / "params.h5"))
        self.solver.load_states(str(self.checkpoint_dir / "solver.h5"))
        self.iteration, self.best = int(state["iteration"]), float(state["best"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        return True

    def export_weights(self, path: Path) -> None:
        """Official-style parameter names, float32, written atomically."""
        from ..weights.h5params import write_h5_params

        write_h5_params(path, {k: v.d.astype(np.float32) for k, v in self.params.items()})

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


def run_config(config: TrainConfig, out_dir: Path, resume: bool, keep_recipe: bool) -> TrainConfig:
    """With ``keep_recipe`` the recipe a run folder was started with wins on resume: a change of defaults
    in the code must not silently change a half-trained run."""
    stored = Trainer.stored_config(out_dir) if resume else None
    if stored is None or stored == config:
        return config
    changes = {k: v[1] for k, v in stored.differences(config).items()}
    if keep_recipe:
        log.warning("resuming with the run's own recipe; ignoring %s", changes)
        return stored
    log.warning("resuming with a changed recipe: %s", changes)
    return config


def train(config: TrainConfig, data_dir: Path, out_dir: Path, resume: bool = True,
          max_iterations: int | None = None, progress: bool = True, *, spec: ModelSpec | None = None,
          keep_recipe: bool = True) -> Path:
    """Train (or continue) ``config.model`` until ``config.iterations``; returns the best weights' path.

    ``out_dir`` gets checkpoint/ (the latest state), best.h5 (lowest validation NME so far, official-style
    names, float32), log.jsonl (loss and validation NME every ``validate_every`` iterations) and
    box_model.json. With ``resume`` an existing checkpoint is continued, with the recipe it was started
    with unless ``keep_recipe`` is False (then ``config`` applies from here on, e.g. more iterations).
    ``progress`` shows a bar only when stderr is a terminal. ``spec`` defaults to the registry's
    ``config.model``.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(config, out_dir, resume, keep_recipe)
    if spec is None:
        from ..plugins import get_model
        spec = get_model(config.model)
    trainer = Trainer(spec, config, data_dir, out_dir)
    if resume and trainer.load_checkpoint():
        log.info("resumed at iteration %d (best validation NME %.4f)", trainer.iteration, trainer.best)
    end = config.iterations if max_iterations is None else min(config.iterations, trainer.iteration + max_iterations)
    best_path, log_path = out_dir / "best.h5", out_dir / "log.jsonl"
    ctx = multiprocessing.get_context("spawn")  # workers never inherit NNabla's state
    show = progress and sys.stderr.isatty()
    with ctx.Pool(config.workers, _init_worker, (trainer.train_samples, trainer.pre, config)) as pool, \
            tqdm(total=end, initial=trainer.iteration, disable=not show, desc="train") as bar:
        # a few batches in flight keep the worker busy while NNabla runs the step
        pending: deque = deque(pool.apply_async(_make_batch, (i,))
                               for i in range(trainer.iteration, min(end, trainer.iteration + 4)))
        next_submit = trainer.iteration + len(pending)
        losses, started = [], time.time()
        first, first_seconds = trainer.iteration, trainer.train_seconds
        while trainer.iteration < end:
            x, t = pending.popleft().get()
            if next_submit < end:
                pending.append(pool.apply_async(_make_batch, (next_submit,)))
                next_submit += 1
            losses.append(trainer.step(x, t))
            bar.update(1)
            now = time.time()
            trainer.train_seconds += now - started
            started = now
            if trainer.iteration % PROGRESS_EVERY == 0 and not show:
                # a line now and then for logs and nohup files, where no bar is drawn
                rate = (trainer.train_seconds - first_seconds) / (trainer.iteration - first)
                log.info("iteration %d loss %.4f (mean of the last %d) %.2f s/iteration", trainer.iteration,
                         np.mean(losses), len(losses), rate)
            if not np.isfinite(losses[-1]):
                raise FloatingPointError(f"loss is {losses[-1]} at iteration {trainer.iteration}; "
                                         "resume from the last checkpoint with a lower learning rate")
            if trainer.iteration % config.validate_every == 0 or trainer.iteration == end:
                val = trainer.validate()
                record = {"iteration": trainer.iteration, "loss": float(np.mean(losses)), "val_nme": val,
                          "lr": config.learning_rate_at(trainer.iteration - 1),
                          "train_hours": round(trainer.train_seconds / 3600, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
                log.info("iteration %d loss %.4f val NME %.4f", trainer.iteration, record["loss"], val)
                bar.set_postfix(loss=f"{record['loss']:.3f}", val_nme=f"{val:.4f}")
                losses = []
                if val < trainer.best:
                    trainer.best = val
                    trainer.export_weights(best_path)
                started = time.time()  # validation is not training time
            if trainer.iteration % config.checkpoint_every == 0 or trainer.iteration == end:
                trainer.save_checkpoint()
    if not best_path.is_file():
        trainer.export_weights(best_path)
    return best_path


def summary(log_path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
