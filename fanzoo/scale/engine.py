"""Run an alignment job on Ray Data: paths -> crop tasks -> landmark actor pool -> Parquet shards, resumable.

The driver lists the images, skips those already in the results folder, streams the rest through the two
stages of :mod:`fanzoo.scale.stages`, and writes every result row it receives into atomic shards. Rows are
written only by the driver, once each: a retried task or a restarted actor can recompute a block, but Ray
Data hands each output block to the driver once, so no image is written twice.
"""
from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailableError, InputError
from .job import AlignJob
from .results import ShardWriter, finished_paths, locked, result_schema
from .sources import expand_inputs

log = logging.getLogger(__name__)

RAY_EXTRA = "pip install 'fanzoo[ray]'"
# A crop worker process is replaced after this many tasks (a few thousand images): memory that decoding
# huge files fragmented is returned, at the cost of one detector load. Remote arguments that differ between
# the stages also keep Ray Data from fusing the crop tasks into the landmark actors, which would confine
# detection to the actors' CPUs (on a GPU cluster, the few beside each GPU) instead of every free CPU.
CROP_TASKS_PER_PROCESS = 100


@dataclass(frozen=True)
class RunSummary:
    """What a run did: images given, already done before it, aligned now (of which failed), shards written."""

    images: int
    skipped: int
    processed: int
    failed: int
    shards: list[Path] = field(default_factory=list)


def import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise BackendUnavailableError(f"the Ray engine needs Ray Data: {RAY_EXTRA} ({exc})") from exc
    return ray


def _prepare(job: AlignJob, announce: Callable[[str], None]) -> tuple[AlignJob, int]:
    """Load the job's predictor once on the driver, as load_predictor does everywhere: every name, option and
    precision is checked and the artifacts are made (bound or exported once) before any worker starts. The job
    then carries the resolved backend and precision, and the weights' fingerprint its results are labelled with."""
    from ..api import load_predictor
    from ..artifacts import prepare
    from ..plugins import plugins

    # on the CPU: the driver's node need not have the GPUs the actors will use
    predictor = load_predictor(job.model, job.backend, "cpu", job.detector if job.detects else None, flip=job.flip,
                               artifacts=job.artifacts, threads=1, batch_size=job.batch_size,
                               detector_options=dict(job.detector_options), announce=announce, precision=job.precision)
    spec = predictor.spec
    runtime = plugins().backend(job.backend or spec.default_backend)
    precision = job.precision or spec.default_precision
    landmarks, *_ = prepare(job.model, runtime.artifact_format, job.artifacts, announce=announce, precision=precision)
    # the workers load the same weights: a tag named stays named, a bare name becomes the architecture's
    name = landmarks.model.name if landmarks.model.explicit else spec.name
    job = replace(job, model=name, backend=runtime.name, precision=precision,
                  weights_sha256=landmarks.manifest.weights_sha256)
    return job, spec.landmarks_dims


def check_reachable(address: str, timeout: float = 10.0) -> None:
    """A HOST:PORT address must answer before Ray is asked: Ray itself retries an absent cluster for minutes."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # auto, local, ray://...: Ray's own resolution
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise BackendUnavailableError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one "
                                      "with `ray start --head`, or check --address") from None


def connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (``auto``: the one `ray start` made on this machine), or start a local
    Ray instance on this machine's cores. True when this call started the connection (and must end it)."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"logging_level": logging.WARNING}
    if address is None:
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except ConnectionError as exc:
        raise BackendUnavailableError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
    return True


def _actor_pool_size(ray: Any, job: AlignJob, actors: int | None) -> int:
    """At most one actor per GPU, or per ``threads`` CPUs of the cluster less one CPU left to the crop tasks."""
    if actors is not None:
        return actors
    resources = ray.cluster_resources()
    if uses_gpu(job):
        return max(1, int(resources.get("GPU", 1)))
    return max(1, int(resources.get("CPU", 1)) // job.threads - 1)


def uses_gpu(job: AlignJob) -> bool:
    return job.device.startswith("cuda")


def align_on_ray(inputs: Sequence[str | Path], results: Path | str, job: AlignJob = AlignJob(), *,
                 address: str | None = None, recursive: bool = False, images_per_block: int = 32,
                 rows_per_shard: int = 1000, seconds_per_shard: float = 60.0, actors: int | None = None,
                 progress: bool = False, on_failure: Callable[[str, str], None] | None = None,
                 announce: Callable[[str], None] = log.warning) -> RunSummary:
    """Align every image of ``inputs`` (folders, ``.txt`` file lists, globs; see
    :func:`fanzoo.scale.sources.expand_inputs`) on Ray, into Parquet shards in ``results``.

    Images already in ``results`` are skipped; one bad image is a row with ``error`` set. ``images_per_block``
    is the unit of work of a crop task and an actor call; ``actors`` fixes the size of the landmark actor
    pool (default: autoscaling from 1 to one per ``job.threads`` CPUs, less one). ``on_failure(path, error)``
    is called as failed rows arrive.
    """
    ray = import_ray()
    if images_per_block < 1 or rows_per_shard < 1 or job.threads < 1 or (actors is not None and actors < 1):
        raise InputError("images_per_block, rows_per_shard, threads and actors must be at least 1")
    results = Path(results)
    if results.exists() and not results.is_dir():
        raise InputError(f"--results {results} is a file; give a folder")
    paths = expand_inputs(inputs, recursive)
    job, dims = _prepare(job, announce)
    schema = result_schema(dims, job.identity())
    if address is not None and not ray.is_initialized():
        check_reachable(address)  # before the results folder is made
    with locked(results):
        done = finished_paths(results, schema)
        todo = [p for p in paths if p not in done]
        skipped = len(paths) - len(todo)
        if not todo:
            return RunSummary(len(paths), skipped, 0, 0)
        started = connect(ray, address)
        try:
            return _run(ray, todo, results, job, schema, len(paths), skipped, images_per_block, rows_per_shard,
                        seconds_per_shard, actors, progress, on_failure)
        finally:
            if started:
                ray.shutdown()


def _run(ray: Any, todo: list[str], results: Path, job: AlignJob, schema: Any, total: int, skipped: int,
         images_per_block: int, rows_per_shard: int, seconds_per_shard: float, actors: int | None,
         progress: bool, on_failure: Callable[[str, str], None] | None) -> RunSummary:
    import pyarrow as pa
    import pyarrow.compute as pc
    from ray.data import ActorPoolStrategy, DataContext
    from tqdm import tqdm

    from .stages import LandmarkStage, crop_images

    if logging.getLogger("fanzoo").getEffectiveLevel() >= logging.WARNING:  # Ray Data's chatter only with -v
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = DataContext.get_current()
    context.enable_progress_bars = False  # ours below counts images, not Ray's blocks
    blocks = [pa.table({"path": pa.array(todo[i:i + images_per_block], pa.string())})
              for i in range(0, len(todo), images_per_block)]
    dataset = (ray.data.from_arrow(blocks)
               .map_batches(crop_images, fn_kwargs={"job": job}, batch_format="pyarrow", batch_size=None, num_cpus=1,
                            max_calls=CROP_TASKS_PER_PROCESS)
               .map_batches(LandmarkStage, fn_constructor_kwargs={"job": job}, batch_format="pyarrow",
                            batch_size=None, num_cpus=job.threads, num_gpus=1 if uses_gpu(job) else None,
                            compute=ActorPoolStrategy(min_size=1, max_size=_actor_pool_size(ray, job, actors))))
    writer = ShardWriter(results, schema, rows_per_shard, seconds_per_shard)
    processed = failed = 0
    bar = tqdm(total=len(todo), desc="align (ray)", unit="img", leave=False,
               disable=not progress or not sys.stderr.isatty())
    try:
        for table in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            writer.add([table])
            processed += table.num_rows
            bad = table.filter(pc.is_valid(table.column("error")))
            for path, error in zip(bad.column("path").to_pylist(), bad.column("error").to_pylist()):
                failed += 1
                if on_failure is not None:
                    on_failure(path, error)
            bar.update(table.num_rows)
    finally:
        bar.close()
        writer.close()  # finished rows are kept even when the run stops early (Ctrl-C): a rerun skips them
    return RunSummary(total, skipped, processed, failed, writer.written)
