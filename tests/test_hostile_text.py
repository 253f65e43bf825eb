"""Text inputs that lie: .pts files and boxes JSON, bounded in size and depth, refused with one InputError
that names the file once."""
from __future__ import annotations

from pathlib import Path

import pytest

from fanzoo.detection import load_boxes_json
from fanzoo.errors import InputError
from fanzoo.pts import format_pts, read_pts


def test_boxes_json_nested_too_deeply(tmp_path: Path) -> None:
    """json.loads raises RecursionError (not ValueError) past its stack: it used to escape as a traceback."""
    path = tmp_path / "boxes.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply") as info:
        load_boxes_json(path)
    assert str(info.value).count(str(path)) == 1


def test_boxes_json_larger_than_any_boxes_file(tmp_path: Path) -> None:
    path = tmp_path / "boxes.json"
    with open(path, "wb") as f:
        f.write(b"[")
        f.truncate(1 << 30)  # sparse: 1 GiB declared, nothing read
    with pytest.raises(InputError, match="larger than"):
        load_boxes_json(path)


def test_missing_boxes_file_names_it_once(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_boxes_json(tmp_path / "nope.json")
    assert str(info.value).count("nope.json") == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_pts_with_coordinates_that_are_not_numbers(tmp_path: Path, value: str) -> None:
    text = format_pts([[1.0, 2.0]] * 68).replace("2.000", value, 1)
    (tmp_path / "a.pts").write_text(text)
    with pytest.raises(InputError, match="not finite"):
        read_pts(tmp_path / "a.pts")


def test_pts_larger_than_any_pts_file(tmp_path: Path) -> None:
    path = tmp_path / "a.pts"
    with open(path, "wb") as f:
        f.truncate(1 << 30)
    with pytest.raises(InputError, match="larger than"):
        read_pts(path)


def test_missing_pts_names_it_once(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_pts(tmp_path / "nope.pts")
    assert str(info.value).count("nope.pts") == 1
