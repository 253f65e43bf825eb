"""fanzoo.imageio: odd but valid images come out upright uint8 RGB; bad files fail with InputError naming them."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from fanzoo import imageio
from fanzoo.errors import InputError


def pattern(height: int = 64, width: int = 96) -> np.ndarray:
    """uint8 RGB with four flat, saturated quadrants (JPEG keeps them recognisable) and a gradient row."""
    rgb = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    rgb[:h, :w] = (255, 0, 0)
    rgb[:h, w:] = (0, 255, 0)
    rgb[h:, :w] = (0, 0, 255)
    rgb[h:, w:] = (255, 255, 255)
    return rgb


def quadrant_colours(rgb: np.ndarray) -> list[tuple[int, ...]]:
    """The colour at the centre of each quadrant, rounded to 0/255 per channel: TL, TR, BL, BR."""
    h, w = rgb.shape[:2]
    centres = [(h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    return [tuple(int(v > 127) * 255 for v in rgb[y, x]) for y, x in centres]


def png_bytes(pixels: np.ndarray, color_type: int) -> bytes:
    """A PNG written by hand, so that grey+alpha and 16-bit variants are exactly what the test says."""
    height, width = pixels.shape[:2]
    depth = pixels.dtype.itemsize * 8
    rows = pixels.reshape(height, width, -1).astype(">u2" if depth == 16 else "u1")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + tag + body + zlib.crc32(tag + body).to_bytes(4, "big")

    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def jpeg_bytes(rgb: np.ndarray, orientation: int | None = None) -> bytes:
    """A JPEG, optionally with an EXIF APP1 segment holding only the Orientation tag (0x0112)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    data = encoded.tobytes()
    if orientation is None:
        return data
    # little-endian TIFF header, IFD at offset 8 with one entry: tag, type SHORT (3), count 1, value, no next IFD
    tiff = b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little") + \
        struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + (0).to_bytes(4, "little")
    app1 = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]


def test_rgb_png_round_trip_is_exact(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (31, 47, 3), dtype=np.uint8)
    imageio.write_image(tmp_path / "a.png", rgb)
    loaded = imageio.load_image(tmp_path / "a.png")
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.flags.c_contiguous
    np.testing.assert_array_equal(loaded.rgb, rgb)
    assert loaded.scale == 1.0 and loaded.path == tmp_path / "a.png"


def test_grey_images_get_three_equal_channels(tmp_path: Path) -> None:
    grey = np.arange(0, 240, dtype=np.uint8).reshape(12, 20)
    (tmp_path / "g.png").write_bytes(png_bytes(grey, color_type=0))
    rgb = imageio.read_image(tmp_path / "g.png")
    assert rgb.shape == (12, 20, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], grey)


@pytest.mark.parametrize("color_type, channels", [(6, 3), (4, 1)], ids=["RGBA", "grey+alpha"])
def test_alpha_is_dropped_keeping_the_stored_colour(tmp_path: Path, color_type: int, channels: int) -> None:
    colour = np.random.default_rng(1).integers(0, 256, (10, 14, channels), dtype=np.uint8)
    alpha = np.zeros((10, 14, 1), np.uint8)
    alpha[:5] = 255  # top half opaque, bottom half fully transparent
    (tmp_path / "a.png").write_bytes(png_bytes(np.concatenate([colour, alpha], axis=2), color_type))
    rgb = imageio.read_image(tmp_path / "a.png")
    assert rgb.shape == (10, 14, 3)
    np.testing.assert_array_equal(rgb, np.broadcast_to(colour, (10, 14, 3)))  # transparent part too: not composited


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_16_bit_is_scaled_not_clipped(tmp_path: Path, suffix: str) -> None:
    values = np.array([0, 255, 256, 40000, 0x80FF, 65535], np.uint16)
    deep = np.repeat(np.repeat(values[None, :, None], 4, axis=0), 3, axis=2)  # (4, 6, 3)
    assert cv2.imwrite(str(tmp_path / f"d{suffix}"), deep)
    rgb = imageio.read_image(tmp_path / f"d{suffix}")
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 6, 3)
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 0, 1, 156, 128, 255])


def test_16_bit_grey_png(tmp_path: Path) -> None:
    (tmp_path / "g16.png").write_bytes(png_bytes(np.array([[0, 1000, 50000, 65535]], np.uint16), color_type=0))
    rgb = imageio.read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(rgb[0, :, 1], [0, 3, 195, 255])


# EXIF orientation -> how the stored pixels relate to the upright picture
STORED = {1: lambda u: u, 3: lambda u: np.rot90(u, 2), 6: lambda u: np.rot90(u, 1), 8: lambda u: np.rot90(u, -1)}


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    upright = pattern()
    stored = np.ascontiguousarray(STORED[orientation](upright))
    (tmp_path / "r.jpg").write_bytes(jpeg_bytes(stored, orientation))
    rgb = imageio.read_image(tmp_path / "r.jpg")
    assert rgb.shape == upright.shape
    assert quadrant_colours(rgb) == quadrant_colours(upright)


def test_decode_image_bytes_matches_load_image(tmp_path: Path) -> None:
    data = jpeg_bytes(pattern(), orientation=6)
    (tmp_path / "x.jpg").write_bytes(data)
    from_memory = imageio.decode_image_bytes(data)
    np.testing.assert_array_equal(from_memory.rgb, imageio.read_image(tmp_path / "x.jpg"))
    assert from_memory.path is None


def test_unicode_file_names(tmp_path: Path) -> None:
    path = tmp_path / "visage é 顔.png"
    imageio.write_image(path, pattern())
    np.testing.assert_array_equal(imageio.read_image(path), pattern())


def broken_files() -> dict[str, tuple[bytes, str]]:
    jpg, png = jpeg_bytes(pattern(128, 128)), png_bytes(pattern(128, 128), color_type=2)
    return {
        "empty.jpg": (b"", "empty"),
        "text.jpg": (b"this is a text file, renamed\n", "not a readable image"),
        "jpeg-header-only.jpg": (jpg[:300], "not a readable image"),
        "jpeg-cut-mid-scan.jpg": (jpg[:len(jpg) * 6 // 10], "not a readable image"),
        "png-cut.png": (png[:len(png) // 2], "not a readable image"),
        "png-bad-crc.png": (png[:40] + bytes(8) + png[48:], "not a readable image"),
        "random.png": (np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
                       "not a readable image"),
    }


@pytest.mark.parametrize("name", sorted(broken_files()))
def test_bad_files_raise_input_error_naming_the_file(tmp_path: Path, name: str) -> None:
    content, message = broken_files()[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        imageio.load_image(path)
    assert str(path) in str(info.value)
    with pytest.raises(InputError, match=message):
        imageio.decode_image_bytes(content, name)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file") as info:
        imageio.read_image(tmp_path / "nope.jpg")
    assert "nope.jpg" in str(info.value)
    with pytest.raises(InputError, match="not a file"):
        imageio.read_image(tmp_path)


def gradient(height: int, width: int) -> np.ndarray:
    """Smooth content, so that a reduced decode can be compared with a downscaled original."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2).astype(np.uint8)


def test_large_jpeg_is_decoded_reduced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageio, "MAX_PIXELS", 10_000)
    original = gradient(200, 300)  # 60,000 pixels: 1/2 is still too many, 1/4 fits
    (tmp_path / "big.jpg").write_bytes(jpeg_bytes(original))
    loaded = imageio.load_image(tmp_path / "big.jpg")
    assert loaded.scale == 4.0 and loaded.rgb.shape == (50, 75, 3)
    expected = cv2.resize(original, (75, 50), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(loaded.rgb.astype(int) - expected).mean() < 3
    assert imageio.load_image(tmp_path / "big.jpg", max_pixels=None).rgb.shape == (200, 300, 3)
    assert imageio.read_image(tmp_path / "big.jpg").shape == (200, 300, 3)  # full size unless asked


def test_large_jpeg_reduced_is_still_upright(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageio, "MAX_PIXELS", 1_000)
    upright = pattern(64, 96)
    (tmp_path / "r.jpg").write_bytes(jpeg_bytes(np.ascontiguousarray(np.rot90(upright, 1)), orientation=6))
    loaded = imageio.load_image(tmp_path / "r.jpg")
    assert loaded.scale == 4.0 and loaded.rgb.shape == (16, 24, 3)
    assert quadrant_colours(loaded.rgb) == quadrant_colours(upright)


def test_large_png_is_reduced_and_coordinates_map_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageio, "MAX_PIXELS", 10_000)
    original = np.zeros((200, 300, 3), np.uint8)
    original[90:120, 150:180] = 255  # a white square centred at (165, 105)
    imageio.write_image(tmp_path / "big.png", original)
    loaded = imageio.load_image(tmp_path / "big.png")
    assert loaded.scale == 4.0 and loaded.rgb.shape == (50, 75, 3)  # powers of two, as for JPEG
    ys, xs = np.nonzero(loaded.rgb[:, :, 0] > 127)
    assert abs((xs.mean() + 0.5) * loaded.scale - 165) < 2 and abs((ys.mean() + 0.5) * loaded.scale - 105) < 2


def test_oversized_png_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageio, "MAX_FULL_DECODE_PIXELS", 50_000)
    imageio.write_image(tmp_path / "huge.png", gradient(200, 300))
    with pytest.raises(InputError, match="200 pixels, too large") as info:
        imageio.load_image(tmp_path / "huge.png")
    assert "huge.png" in str(info.value)
    imageio.write_image(tmp_path / "huge.jpg", gradient(200, 300))  # JPEG decodes reduced instead
    monkeypatch.setattr(imageio, "MAX_PIXELS", 20_000)
    assert imageio.load_image(tmp_path / "huge.jpg").scale == 2.0


def test_write_image_formats_and_atomicity(tmp_path: Path) -> None:
    imageio.write_image(tmp_path / "a.jpg", pattern())
    imageio.write_image(tmp_path / "a.png", pattern())
    assert (tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"  # the suffix decides the format
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    before = (tmp_path / "a.png").read_bytes()
    with pytest.raises(InputError, match="not an image format"):
        imageio.write_image(tmp_path / "a.xyz", pattern())
    with pytest.raises(InputError, match="uint8"):
        imageio.write_image(tmp_path / "a.png", pattern().astype(np.float32))
    assert (tmp_path / "a.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "a.png"]  # no temporary files left
