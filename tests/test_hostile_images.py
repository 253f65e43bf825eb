"""Images whose headers promise more than they hold: refused from the header, one InputError per file, in
bounded memory; formats fanzoo does not read are called unsupported, not corrupt."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fanzoo import imageio
from fanzoo.errors import InputError

from . import hostile
from .bounded import run_bounded

READER = "fanzoo.imageio:load_image"
# room for a reader that misbehaves to show it: the tests then require it to stay far below
ROOM = 3 << 30
MAX_GROWTH = 100 << 20


def small_jpeg() -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))
    assert ok
    return encoded.tobytes()


BOMBS = {
    # the files: a few KB of TIFF declaring 20000 x 15000 and 30000 x 30000 RGB pixels
    "tiff-20000x15000.tif": lambda: hostile.tiff_bomb(20000, 15000),
    "tiff-30000x30000.tif": lambda: hostile.tiff_bomb(30000, 30000),
    "bmp-rle-20000x15000.bmp": lambda: hostile.bmp_rle_bomb(20000, 15000),
    "bmp-rle-top-down.bmp": lambda: hostile.bmp_rle_bomb(20000, -15000),
    "png-16bit-12000x12000.png": lambda: hostile.png_header(12000, 12000, depth=16),
    "png-20000x15000.png": lambda: hostile.png_header(20000, 15000),
    "webp-16384x16384.webp": lambda: hostile.webp_vp8x(16384, 16384),
    "webp-canvas-1e6.webp": lambda: hostile.webp_vp8x(1_000_000, 1_000_000),
    "jpeg-60000x60000.jpg": lambda: hostile.jpeg_with_size(small_jpeg(), 60000, 60000),
    "jpeg-30000x30000.jpg": lambda: hostile.jpeg_with_size(small_jpeg(), 30000, 30000),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_headers_declaring_huge_images_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BOMBS[name]())
    outcome = run_bounded(READER, path, extra_bytes=ROOM)
    assert outcome.raised(InputError) and outcome.peak_growth < MAX_GROWTH, outcome
    assert str(path) in outcome.message and outcome.message.count(str(path)) == 1


def test_sparse_8_gb_file_is_one_clear_error(tmp_path: Path) -> None:
    """An 8 GB (sparse) .jpg: refused by its size, not read into memory (that was a MemoryError traceback)."""
    path = tmp_path / "sparse.jpg"
    with open(path, "wb") as f:
        f.write(small_jpeg())
        f.truncate(8 << 30)
    outcome = run_bounded(READER, path, extra_bytes=ROOM)
    assert outcome.raised(InputError) and outcome.peak_growth < MAX_GROWTH, outcome
    assert "GB" in outcome.message or "GiB" in outcome.message


UNSUPPORTED = {
    "a.gif": (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00"
              b"\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", "GIF"),
    "a.ppm": (b"P6\n30000 30000\n255\n" + bytes(100), "PNM"),
    "a.pfm": (b"PF\n30000 30000\n-1.0\n" + bytes(100), "PFM"),
    "a.hdr": (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n" + bytes(100), "Radiance HDR"),
    "a.jp2": (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(100), "JPEG 2000"),
    "a.exr": (b"\x76\x2f\x31\x01" + bytes(100), "OpenEXR"),
    "a.heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100), "HEIF"),
    "a.pdf": (b"%PDF-1.4\n" + bytes(100), "PDF"),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_other_formats_are_unsupported_not_corrupt(tmp_path: Path, name: str) -> None:
    content, kind = UNSUPPORTED[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match="unsupported") as info:
        imageio.load_image(path)
    assert kind in str(info.value) and "corrupt" not in str(info.value)


def test_real_gif_is_unsupported(tmp_path: Path) -> None:
    """A GIF that an image library really wrote (Pillow ships with matplotlib)."""
    from PIL import Image

    Image.new("RGB", (20, 10), (255, 0, 0)).save(tmp_path / "red.gif")
    with pytest.raises(InputError, match="unsupported format.*GIF"):
        imageio.load_image(tmp_path / "red.gif")


def test_jpeg_declaring_60000_squared_is_refused_without_libjpeg_noise(tmp_path: Path) -> None:
    """A real 64x64 JPEG whose frame header says 60000x60000: refused from the header, and nothing from
    libjpeg ("Corrupt JPEG data: premature end of data segment") reaches stderr."""
    path = tmp_path / "j.jpg"
    path.write_bytes(hostile.jpeg_with_size(small_jpeg(), 60000, 60000))
    code = ("import json, sys\nfrom fanzoo.imageio import load_image\n"
            "try:\n    load_image(sys.argv[1]); print(json.dumps(['ok', '']))\n"
            "except Exception as exc:\n    print(json.dumps([type(exc).__name__, str(exc)]))\n")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    kind, message = json.loads(run.stdout)
    assert kind == "InputError" and run.stderr == "", (kind, message, run.stderr)


def test_truncated_jpeg_is_refused_without_libjpeg_noise(tmp_path: Path) -> None:
    """Cut short of its end-of-image marker: libjpeg would fill the rest with grey and warn on stderr."""
    data = imageio_jpeg(256)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[:-200])
    with pytest.raises(InputError, match="truncated"):
        imageio.load_image(path)


def imageio_jpeg(size: int) -> bytes:
    rng = np.random.default_rng(0)
    ok, encoded = cv2.imencode(".jpg", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize("writer", ["tiff", "webp", "bmp", "png", "jpeg"])
def test_every_accepted_format_still_reads(tmp_path: Path, writer: str) -> None:
    """The header checks read real files of every accepted format (written by OpenCV and by Pillow)."""
    from PIL import Image

    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:15] = (255, 0, 0)
    suffix = {"tiff": ".tif", "webp": ".webp", "bmp": ".bmp", "png": ".png", "jpeg": ".jpg"}[writer]
    assert cv2.imwrite(str(tmp_path / f"cv{suffix}"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    Image.fromarray(rgb).save(tmp_path / f"pil{suffix}")
    for name in (f"cv{suffix}", f"pil{suffix}"):
        loaded = imageio.load_image(tmp_path / name)
        assert loaded.rgb.shape == (30, 40, 3), name
        assert np.abs(loaded.rgb[5, 5].astype(int) - (255, 0, 0)).max() < 40, name


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("big", [False, True], ids=["classic", "bigtiff"])
def test_tiff_byte_orders_and_bigtiff(tmp_path: Path, order: str, big: bool) -> None:
    """Both byte orders and BigTIFF: real pixels read, and a huge declared size refused, from the same writer."""
    rgb = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    (tmp_path / "ok.tif").write_bytes(hostile.tiff_plain(rgb, order, big))
    np.testing.assert_array_equal(imageio.load_image(tmp_path / "ok.tif").rgb, rgb)
    (tmp_path / "huge.tif").write_bytes(hostile.tiff_plain(rgb, order, big, declare=(20000, 15000)))
    outcome = run_bounded(READER, tmp_path / "huge.tif", extra_bytes=ROOM)
    assert outcome.raised(InputError) and outcome.peak_growth < MAX_GROWTH, outcome
