"""Training a run folder to its iteration count: the loop, its log and best weights, and the helper processes.

``processes`` > 1 starts that many - 1 helper processes (spawned, one core each) that compute their share
of every batch; rank 0 alone validates, logs and saves. Trainer (trainer.py) is one process's state,
checkpoints.py the saved form, randomness.py every draw.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..registry import ModelSpec
from .checkpoints import run_config
from .config import TrainConfig
from .parallel import Exchange
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "check_training_folder", "summary", "train"]

log = logging.getLogger(__name__)
PROGRESS_EVERY = 50  # iterations between progress lines in the log when no bar is shown


def check_training_folder(data_dir: Path) -> None:
    """Refuse a missing folder and any folder inside a test set: test faces never reach training."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError(f"no training data at {data_dir}; pass a folder of images with .pts files")
    if "testset" in data_dir.resolve().parts:
        raise InputError(f"refusing to train on a test set folder ({data_dir})")


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


def terminate_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM (kill, a job scheduler, a container stop) end training as Ctrl-C does; returns what puts
    the previous handler back. SIGTERM's default action ends the process on the spot, so the cleanup below
    would never abort the barrier and the helper processes would wait out its timeout (15 minutes) before
    they noticed. Only the main thread can take signals; elsewhere this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    # None: the previous handler was not set from Python; the default is what the process had
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


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

    check_training_folder(data_dir)
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
    restore_sigterm = terminate_as_interrupt()
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
                    from .curve import redraw  # here: `python -m fanzoo.training.curve` must import it first

                    redraw(out_dir)
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
        restore_sigterm()
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
