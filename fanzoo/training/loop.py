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
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..decoding import decode_heatmaps
from ..metrics import nme
from ..registry import ModelSpec
from .config import TrainConfig
from .crops import cached_regions
from .data import Sample, load_box_model, load_samples, make_example
from .parallel import Exchange, flatten, unflatten

__all__ = ["TrainConfig", "Trainer", "summary", "train"]

log = logging.getLogger(__name__)
PROGRESS_EVERY = 50  # iterations between progress lines in the log when no bar is shown

# what state.json says about randomness: nothing else needs saving, because nothing draws sequentially
RNG_SCHEME = {
    "init": "convolutions He-uniform from PCG64([seed, crc32(parameter name)]), heads x0.01, biases 0, BN identity",
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


def initial_params(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Weights to train from, from the seed alone, so two runs with one seed are the same run.

    Convolutions are He-uniform (the synthetic-weight rule); biases start at 0 and BatchNorm at the
    identity. The heatmap heads (``l{i}``) start 100x smaller: full-size random heads put O(1) noise on
    every one of the H*W pixels, and the first few hundred iterations would only learn to undo it.
    """
    import re

    from ..weights.synthetic import synthetic_param

    params = {}
    for name, shape in shapes.items():
        kind = name.rsplit("/", 1)[-1]
        if kind in ("b", "beta", "mean"):
            params[name] = np.zeros(shape, np.float32)
        elif kind in ("gamma", "var"):
            params[name] = np.ones(shape, np.float32)
        else:
            params[name] = synthetic_param(seed, name, shape)
            if re.fullmatch(r"l\d+/conv/W", name):
                params[name] *= 0.01
    return params


class Trainer:
    """The graph, the solver and the run state of one run folder, in one of ``ranks`` processes.

    Rank r computes positions [r*b, (r+1)*b) of every batch (b = batch_size / ranks), with the same
    per-position random draws as a single process, so the batches do not depend on the process count.
    """

    def __init__(self, spec: ModelSpec, config: TrainConfig, data_dir: Path, out_dir: Path,
                 rank: int = 0, ranks: int = 1, progress: bool = False) -> None:
        import nnabla as nn
        import nnabla.functions as F
        import nnabla.solvers as S

        if ranks < 1 or config.batch_size % ranks:
            raise ValueError(f"batch size {config.batch_size} does not split over {ranks} processes")
        self.spec, self.config, self.out_dir = spec, config, Path(out_dir)
        self.rank, self.ranks, self.exchange = rank, ranks, None
        self.pre = spec.preprocessing
        box_model = load_box_model(Path(data_dir), self.out_dir / "box_model.json")
        samples = load_samples(Path(data_dir), box_model)
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

            # per-map sum of squared errors, averaged over maps: a per-pixel mean would shrink the
            # gradient of the few peak pixels by H*W and slow the start of training
            def map_error(y: nn.Variable) -> nn.Variable:
                error = F.squared_error(y, self.t)
                if config.foreground_weight:
                    error = error * (1.0 + config.foreground_weight * self.t)
                return F.mean(F.sum(error, axis=(2, 3)))

            self.loss = sum(map_error(y) for y in outputs)
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
                     "processes": self.ranks, "config": self.config.to_dict(),
                     "rng": {"seed": self.config.seed, **RNG_SCHEME}}
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
            rng = np.random.default_rng([self.config.seed, iteration, k])
            x, t, _ = make_example(sample, self.pre, self.config.augmentation, rng, self.regions[region],
                                   self.frames[region])
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
        from ..decoding import heatmap_to_image
        from ..preprocessing import box_to_center_scale

        errors = []
        for sample, region in self.val_samples:
            x, _, _ = make_example(sample, self.pre, None, np.random.default_rng(0), self.regions[region],
                                   self.frames[region])
            self.val_x.d = x[None]
            self.val_y.forward(clear_buffer=True)
            # the targets are gaussians (data.py), so the gaussian fit is their sub-pixel rule
            coords, _ = decode_heatmaps(np.array(self.val_y.d), "gaussian")
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


def _peer(rank: int, ranks: int, spec: ModelSpec, config: TrainConfig, data_dir: Path, out_dir: Path,
          load: bool, end: int, shm_name: str, barrier) -> None:
    """Body of a helper process (rank >= 1): the same steps as rank 0, which alone validates and saves."""
    try:
        trainer = Trainer(spec, config, data_dir, out_dir, rank, ranks)
        if load:
            trainer.load_checkpoint()  # the checkpoint rank 0 resumed from: it cannot write another yet
        trainer.exchange = Exchange(shm_name, rank, ranks, trainer.exchange_vector_length(), barrier)
        trainer.check_in_sync()
        while trainer.iteration < end:
            trainer.step()
            if trainer.iteration % config.checkpoint_every == 0 or trainer.iteration == end:
                trainer.check_in_sync()
    except BaseException:
        barrier.abort()  # rank 0 stops at once instead of waiting out the barrier timeout
        raise


def train(config: TrainConfig, data_dir: Path, out_dir: Path, resume: bool = True,
          max_iterations: int | None = None, progress: bool = True, *, spec: ModelSpec | None = None,
          keep_recipe: bool = True, processes: int = 1) -> Path:
    """Train (or continue) ``config.model`` until ``config.iterations``; returns the best weights' path.

    ``out_dir`` gets checkpoint/ (the latest state), best.h5 (lowest validation NME so far, official-style
    names, float32), log.jsonl (loss and validation NME every ``validate_every`` iterations),
    box_model.json and cache/ (the face regions, rebuilt when missing). With ``resume`` an existing
    checkpoint is continued, with the recipe it was started with unless ``keep_recipe`` is False (then
    ``config`` applies from here on, e.g. more iterations). ``processes`` > 1 splits every batch over that
    many processes (one core each; the batch size must divide). ``progress`` shows a bar only when stderr
    is a terminal. ``spec`` defaults to the registry's ``config.model``.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(config, out_dir, resume, keep_recipe)
    if spec is None:
        from ..plugins import get_model
        spec = get_model(config.model)
    show = progress and sys.stderr.isatty()
    trainer = Trainer(spec, config, data_dir, out_dir, 0, processes, progress=show)
    loaded = resume and trainer.load_checkpoint()
    if loaded:
        log.info("resumed at iteration %d (best validation NME %.4f)", trainer.iteration, trainer.best)
    end = config.iterations if max_iterations is None else min(config.iterations, trainer.iteration + max_iterations)
    best_path, log_path = out_dir / "best.h5", out_dir / "log.jsonl"
    ctx = multiprocessing.get_context("spawn")  # helpers never inherit NNabla's state
    peers, shm = [], None
    try:
        if processes > 1 and trainer.iteration < end:
            length = trainer.exchange_vector_length()
            shm, barrier = Exchange.create(processes, length), ctx.Barrier(processes)
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            peers = [ctx.Process(target=_peer, args=(r, processes, spec, config, Path(data_dir), out_dir, loaded,
                                                     end, shm.name, barrier), daemon=True)
                     for r in range(1, processes)]
            for p in peers:
                p.start()
            trainer.exchange = Exchange(shm.name, 0, processes, length, barrier)
        trainer.check_in_sync()
        with tqdm(total=end, initial=trainer.iteration, disable=not show, desc="train") as bar:
            losses, started = [], time.time()
            first, first_seconds = trainer.iteration, trainer.train_seconds
            while trainer.iteration < end:
                losses.append(trainer.step())
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
                              "lr": config.learning_rate_at(trainer.iteration - 1), "processes": processes,
                              "train_hours": round(trainer.train_seconds / 3600, 3),
                              "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
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
                    trainer.check_in_sync()
                    trainer.save_checkpoint()
        for p in peers:
            p.join(60)
            if p.exitcode != 0:
                raise RuntimeError(f"training process {p.name} ended with exit code {p.exitcode}")
    except BaseException:
        if peers:
            barrier.abort()
            for p in peers:
                if p.pid is None:  # never started
                    continue
                p.join(10)
                if p.is_alive():
                    p.terminate()
        raise
    finally:
        if trainer.exchange is not None:
            trainer.exchange.close()
        if shm is not None:
            shm.close()
            shm.unlink()
    if not best_path.is_file():
        trainer.export_weights(best_path)
    return best_path


def summary(log_path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
