"""The results folder of a scale-out job: Parquet shards of one row per image, written atomically, read to resume.

Row layout (the records of ``fanzoo predict --json``, see :mod:`fanzoo.records`)::

    path     string, not null   absolute path of the image file
    width    int32              of the image as stored (0 when it could not be read)
    height   int32
    error    string, null       why the image failed; null when it went well
    faces    list<struct<       [] when there is no face (or on error); largest detector score first
        box              fixed_size_list<float64>[4]             x1, y1, x2, y2 in image pixels
        detector_score   float64
        landmarks        list<fixed_size_list<float32>[dims]>    68 points, [x, y] or [x, y, z]
        landmark_scores  list<float32>                           heatmap peaks, 68 values
    >>

Values are the JSON's (rounded to 1/1000 px); landmarks are stored as float32. Each shard's schema metadata
(key ``fanzoo``) holds the job's identity (model, weights, flip, detector or boxes), which a rerun must match.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_path
from ..errors import InputError
from ..jsonparse import parse_json_object

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

METADATA_KEY = b"fanzoo"
SHARD_SUFFIX = ".parquet"
SCHEMA_VERSION = 1
LOCK_FILE = ".fanzoo-lock"


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder`` for one run: two runs into one folder would both align the images missing from it.
    Inside, temporary files that a killed run left behind are removed (no other run can be writing them)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another run is writing into {folder}; wait for it, or give --results another "
                             "folder") from None
        for stale in folder.glob(f".*{SHARD_SUFFIX}.*.part"):
            stale.unlink(missing_ok=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def result_schema(dims: int, identity: dict[str, Any] | None = None) -> pa.Schema:
    """The Arrow schema of the result rows, with the job's identity as metadata."""
    import pyarrow as pa

    face = pa.struct([
        ("box", pa.list_(pa.float64(), 4)),
        ("detector_score", pa.float64()),
        ("landmarks", pa.list_(pa.list_(pa.float32(), dims))),
        ("landmark_scores", pa.list_(pa.float32())),
    ])
    schema = pa.schema([
        pa.field("path", pa.string(), nullable=False),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("error", pa.string()),
        ("faces", pa.list_(face)),
    ])
    if identity is None:
        return schema
    meta = {"schema_version": SCHEMA_VERSION, "dims": dims, **identity}
    return schema.with_metadata({METADATA_KEY: json.dumps(meta, sort_keys=True).encode()})


def shard_files(folder: Path) -> list[Path]:
    """The finished shards; temporary files of unfinished writes start with a dot and are not shards."""
    return sorted(p for p in Path(folder).glob(f"*{SHARD_SUFFIX}") if not p.name.startswith((".", "_")))


def _identity_of(path: Path, schema: pa.Schema) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise InputError(f"{path} was not written by fanzoo; give --results a folder of its own")
    try:
        return parse_json_object(raw)
    except ValueError as exc:
        raise InputError(f"{path} has damaged fanzoo metadata ({exc}); move it away to redo its images") from None


def finished_paths(folder: Path, schema: pa.Schema) -> set[str]:
    """Paths of every image already in ``folder``'s shards; :class:`InputError` if a shard is unreadable or
    was made by another job (model, weights, flip, detector or boxes), whose rows must not be mixed in."""
    import pyarrow.parquet as pq

    identity = _identity_of(Path(folder), schema)
    done: set[str] = set()
    for shard in shard_files(folder):
        try:
            table = pq.read_table(shard, columns=["path"])
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise InputError(f"cannot read result shard {shard}: {exc}; move it away to redo its images") from exc
        theirs = _identity_of(shard, table.schema)
        if theirs != identity:
            differ = sorted(k for k in identity.keys() | theirs.keys() if identity.get(k) != theirs.get(k))
            raise InputError(f"{folder} holds results of another job ({', '.join(differ)} differ, e.g. in "
                             f"{shard.name}); give --results a new folder, or rerun with that job's settings")
        done.update(table.column("path").to_pylist())
    return done


class ShardWriter:
    """Collects result rows and writes them as Parquet shards, each complete or absent (temp file + rename).

    A shard is written when ``rows_per_shard`` rows are waiting or ``seconds_per_shard`` have passed, so an
    interrupted job loses at most that much finished work; :meth:`close` writes the rest.
    """

    def __init__(self, folder: Path, schema: pa.Schema, rows_per_shard: int = 1000,
                 seconds_per_shard: float = 60.0) -> None:
        self.folder = Path(folder)
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self.seconds_per_shard = seconds_per_shard
        self.run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"  # names never collide across runs
        self.written: list[Path] = []
        self._pending: list[pa.Table] = []
        self._rows = 0
        self._last = time.monotonic()

    def add(self, tables: Iterable[pa.Table]) -> None:
        for table in tables:
            if table.num_rows:
                self._pending.append(table.cast(self.schema))
                self._rows += table.num_rows
        if self._rows >= self.rows_per_shard or (self._rows and time.monotonic() - self._last >= self.seconds_per_shard):
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables(self._pending).replace_schema_metadata(self.schema.metadata)
        target = self.folder / f"part-{self.run}-{len(self.written):05d}{SHARD_SUFFIX}"
        with atomic_path(target, suffix=".part") as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.written.append(target)
        log.info("wrote %s (%d rows)", target, table.num_rows)
        self._pending, self._rows, self._last = [], 0, time.monotonic()

    def close(self) -> None:
        self.flush()


def read_results(folder: Path | str) -> pa.Table:
    """Every row of a results folder as one Arrow table (``.to_pylist()`` gives dicts like the JSON's)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = shard_files(Path(folder))
    if not shards:
        raise InputError(f"no result shards in {folder}")
    return pa.concat_tables([pq.read_table(s) for s in shards], promote_options="permissive")
