"""Data-parallel training on CPU cores: NNabla's CPU backend uses one core, and it has no CPU communicator.

Each process runs the same graph on its share of the batch; after backward they average gradients (and
loss and BatchNorm running statistics) through one shared-memory block. Every process then applies the
same Adam update to the same parameters, so they stay identical without sending weights: each reads the
same shared rows and sums them in the same order, which gives bit-identical averages.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from multiprocessing import shared_memory

import numpy as np

# a peer that does not reach the exchange in this long has died (a step and a validation take seconds)
BARRIER_TIMEOUT = 900.0


class PeerLost(RuntimeError):
    pass


class Exchange:
    """Averages float32 vectors of one fixed length across ``ranks`` processes.

    The shared block has one row per rank. Two barriers per call: after everyone wrote, and after
    everyone read, so a fast rank cannot overwrite its row while a slow one is still reading it.
    """

    def __init__(self, name: str, rank: int, ranks: int, length: int, barrier: threading.Barrier) -> None:
        self.rank, self.ranks, self.length, self.barrier = rank, ranks, length, barrier
        self._shm = shared_memory.SharedMemory(name=name)
        self.rows = np.ndarray((ranks, length), np.float32, buffer=self._shm.buf)

    @staticmethod
    def create(ranks: int, length: int) -> shared_memory.SharedMemory:
        return shared_memory.SharedMemory(create=True, size=max(1, ranks * length * 4))

    def _wait(self) -> None:
        try:
            self.barrier.wait(BARRIER_TIMEOUT)
        except threading.BrokenBarrierError as e:
            raise PeerLost("a training process stopped; see its error above") from e

    def _gather(self, vector: np.ndarray, combine):
        """Write this rank's row, wait for all, combine the rows (each rank alike), wait until all read."""
        n = vector.size  # may be shorter than a row
        self.rows[self.rank, :n] = vector
        self._wait()
        result = combine(self.rows[:, :n])
        self._wait()
        return result

    def average(self, vector: np.ndarray) -> np.ndarray:
        def mean(rows: np.ndarray) -> np.ndarray:
            total = rows[0].copy()  # summed in rank order: every rank gets bit-identical results
            for row in rows[1:]:
                total += row
            return total / np.float32(self.ranks)

        return self._gather(vector, mean)

    def all_equal(self, vector: np.ndarray) -> bool:
        """Whether every rank passed the same vector, bit for bit (compared row by row, not through an
        average: a float32 mean of 3 equal rows need not equal the row)."""
        return self._gather(vector, lambda rows: all(np.array_equal(row, rows[0]) for row in rows[1:]))

    def close(self) -> None:
        del self.rows
        self._shm.close()


# BatchNorm normalises over each process's share of the batch, so the share must stay large enough to
# give it meaningful statistics; the process count is part of the recipe for that reason.
MIN_SHARE = 8


def default_processes(batch_size: int) -> int:
    """One process per core, as many as divide the batch into shares of at least MIN_SHARE faces."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = max(1, min(cores, batch_size // MIN_SHARE))
    return max(p for p in range(1, limit + 1) if batch_size % p == 0)


def flatten(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(a, np.float32).ravel() for a in arrays]) if arrays else np.zeros(0, np.float32)


def unflatten(vector: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        out.append(vector[start:start + n].reshape(shape))
        start += n
    return out
