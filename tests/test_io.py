"""Image reading (every kind of bad or odd file), .pts files, atomic writes, and the face detectors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fanzoo import imageio
from fanzoo.atomic import atomic_dir, atomic_write_text
from fanzoo.detection import load_boxes_json, parse_box
from fanzoo.errors import InputError
from fanzoo.pts import format_pts, read_pts, write_pts

from .conftest import ROOT

PHOTO = ROOT / "examples" / "images" / "astronaut.jpg"


def exif_rotated_jpeg(path: Path, rgb: np.ndarray, orientation: int) -> None:
    """A JPEG whose pixels are stored sideways with an EXIF Orientation tag that says how to show them."""
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    # TIFF header (little endian), one IFD entry: tag 0x0112 (Orientation), SHORT, count 1, value
    tiff = b"II*\x00\x08\x00\x00\x00" + b"\x01\x00" + b"\x12\x01\x03\x00\x01\x00\x00\x00" + \
        orientation.to_bytes(2, "little") + b"\x00\x00" + b"\x00\x00\x00\x00"
    app1 = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    data = jpg.tobytes()
    path.write_bytes(data[:2] + segment + data[2:])


def test_odd_but_valid_images(tmp_path: Path) -> None:
    rgb = imageio.read_image(PHOTO)
    assert rgb.dtype == np.uint8 and rgb.shape == (512, 512, 3) and rgb.flags.c_contiguous
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(tmp_path / "grey.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(tmp_path / "deep.png"), bgr.astype(np.uint16) * 257)
    for name in ("grey.png", "rgba.png", "deep.png"):
        image = imageio.read_image(tmp_path / name)
        assert image.shape == (512, 512, 3) and image.dtype == np.uint8, name
    np.testing.assert_array_equal(imageio.read_image(tmp_path / "deep.png"), imageio.read_image(tmp_path / "rgba.png"))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    upright = np.zeros((40, 80, 3), np.uint8)
    upright[:, :40] = (255, 0, 0)  # left half red
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # stored rotated by 90 degrees counter-clockwise
    exif_rotated_jpeg(tmp_path / "rot.jpg", stored, orientation=6)  # 6: rotate 90 clockwise to display
    image = imageio.read_image(tmp_path / "rot.jpg")
    assert image.shape == (40, 80, 3)
    assert image[20, 10, 0] > 200 and image[20, 70, 0] < 60


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"plain text, not an image", "not a readable image"),
    (None, "not a readable image"),  # truncated JPEG
])
def test_bad_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(PHOTO.read_bytes()[:300] if content is None else content)
    with pytest.raises(InputError, match=message):
        imageio.read_image(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        imageio.read_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="not a file"):
        imageio.read_image(tmp_path)


def test_huge_images_are_decoded_reduced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageio, "MAX_PIXELS", 100 * 100)
    loaded = imageio.load_image(PHOTO, max_pixels=imageio.MAX_PIXELS)
    assert loaded.scale == 8.0 and loaded.rgb.shape == (64, 64, 3)
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((300, 300, 3), np.uint8))
    assert imageio.load_image(big, max_pixels=100 * 100).scale == 4.0


def test_pts_round_trip(tmp_path: Path) -> None:
    points = np.random.default_rng(0).random((68, 2)) * 100
    write_pts(tmp_path / "a.pts", points)
    np.testing.assert_allclose(read_pts(tmp_path / "a.pts"), points, atol=1e-3)
    assert format_pts(points).startswith("version: 1\nn_points:  68\n{\n")
    (tmp_path / "bad.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    with pytest.raises(InputError, match="declares 68 points"):
        read_pts(tmp_path / "bad.pts")


def test_atomic_writes_leave_old_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    folder = tmp_path / "dir"
    with atomic_dir(folder) as tmp:
        (tmp / "f").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(folder) as tmp:
            (tmp / "f").write_text("v2")
            raise RuntimeError("interrupted")
    assert (folder / "f").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "dir"]


def test_boxes(tmp_path: Path) -> None:
    assert parse_box("1, 2,30,40").as_tuple() == (1, 2, 30, 40)
    for bad in ("1,2,3", "a,b,c,d", "5,5,1,1"):
        with pytest.raises(InputError):
            parse_box(bad)
    path = tmp_path / "b.json"
    path.write_text('{"x.jpg": [[1, 2, 30, 40]]}')
    assert load_boxes_json(path)["x.jpg"][0].x2 == 30
    path.write_text('[[1, 2, 30, 40]]')
    assert "*" in load_boxes_json(path)
    path.write_text('{"x.jpg": [[1, 2]]}')
    with pytest.raises(InputError):
        load_boxes_json(path)


def test_detectors_on_demo_photos(shared_data: Path) -> None:
    from fanzoo.detection.dlib_hog import DlibHogDetector

    demo = shared_data / "demo"
    detector = DlibHogDetector()
    faces = detector.detect(imageio.read_image(demo / "skimage_astronaut.png"))
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].as_tuple()
    assert 150 < x1 < 220 and 50 < y1 < 120 and 230 < x2 < 300 and 140 < y2 < 210
    assert detector.detect(imageio.read_image(demo / "skimage_camera.png")) == []
    assert len(detector.detect(imageio.read_image(demo / "insightface_t1.jpg"))) == 6


@pytest.mark.slow
def test_cnn_detector(shared_data: Path) -> None:
    import importlib.util
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("dlib-cnn needs face_recognition_models (installed by tools/install.sh)")
    from fanzoo.detection.dlib_cnn import DlibCnnDetector

    faces = DlibCnnDetector().detect(imageio.read_image(shared_data / "demo" / "skimage_astronaut.png"))
    assert len(faces) == 1 and faces[0].score > 0
