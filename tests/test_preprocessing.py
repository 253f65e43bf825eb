"""The crop corners: the written-out inverse equals LAPACK's float32 inverse bit for bit, as the authors' crop needs."""
from __future__ import annotations

import numpy as np

from fanzoo.preprocessing import _corner


def authors_matrices(centers: np.ndarray, scales: np.ndarray, resolutions: np.ndarray) -> np.ndarray:
    """face-alignment's ``transform`` matrices (image -> crop), in float32, one per case."""
    h = 200.0 * scales
    t = np.zeros((len(scales), 3, 3), dtype=np.float32)
    t[:, 0, 0] = t[:, 1, 1] = resolutions / h
    t[:, 0, 2] = resolutions * (-centers[:, 0] / h + 0.5)
    t[:, 1, 2] = resolutions * (-centers[:, 1] / h + 0.5)
    t[:, 2, 2] = 1.0
    return t


def test_corner_equals_lapack_inverse() -> None:
    rng = np.random.default_rng(0)
    n = 5_000
    resolutions = rng.choice([256.0, 192.0, 64.0, 48.0], n)
    centers, scales = rng.uniform(-500, 5000, (n, 2)), rng.uniform(0.05, 20, n)
    inverses = np.linalg.inv(authors_matrices(centers, scales, resolutions))  # LAPACK, as the authors invert
    for i in range(n):
        point = (1.0, 1.0) if i % 2 else (resolutions[i], resolutions[i])
        expected = (inverses[i] @ np.array([point[0], point[1], 1.0], dtype=np.float32))[:2].astype(np.int32)
        np.testing.assert_array_equal(_corner(point, centers[i], float(scales[i]), float(resolutions[i]), 200.0),
                                      expected)


def test_network_input_is_contiguous() -> None:
    """Runtimes copy a strided input again on every call; the batch is laid out as the network reads it."""
    from fanzoo.preprocessing import to_network_input

    crops = [np.full((4, 4, 3), i, np.uint8) for i in range(2)]
    x = to_network_input(crops)
    assert x.flags["C_CONTIGUOUS"] and x.dtype == np.float32 and x.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(x[1], np.full((3, 4, 4), 1 / 255, np.float32))
