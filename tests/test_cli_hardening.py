"""The command line under user mistakes and a hostile environment: outputs checked before the work, one line per
failure (a traceback only with --debug), usage errors exit 2, outputs never overwrite each other or an input.

These run the bundled model with given boxes: no NNabla, no detector, a fraction of a second per image.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fanzoo.cli import cli

from .conftest import ROOT

ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"
BOX = "179,83,266,170"


def run(*args: str, **env: str):
    return CliRunner().invoke(cli, list(args), env=env or None)


def predict(*args: str, **env: str):
    return run("predict", "--box", BOX, *args, **env)


def assert_one_line(result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))
    for word in words:
        assert word in result.output, (word, result.output)


def no_work_done(result) -> bool:
    return "face" not in result.stdout


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_text("a file, not a folder")
    return path


def test_json_to_a_folder_is_refused_before_the_work(tmp_path: Path) -> None:
    result = predict(str(ASTRONAUT), "--json", str(tmp_path))
    assert_one_line(result, 2, "--json", "folder")
    assert no_work_done(result)


@pytest.mark.parametrize("option", ["--json", "--pts", "--output"])
def test_outputs_under_a_file_are_refused_before_the_work(a_file: Path, option: str) -> None:
    target = a_file / ("out.json" if option == "--json" else "out")
    result = predict(str(ASTRONAUT), option, str(target))
    assert_one_line(result, 2, option)
    assert no_work_done(result)


def test_export_out_that_cannot_be_written(a_file: Path) -> None:
    result = run("export", "2dfan1", "--format", "onnx", "--random-weights", "1", "--out", str(a_file / "exported"))
    assert_one_line(result, 2, "--out")


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a user would see numpy's warning above the error line
@pytest.mark.parametrize("box", ["0,0,1e6,1e6", "0,0,1e308,1e308", "-1e308,-1e308,1e308,1e308"])
def test_huge_boxes_are_one_line_per_file(box: str) -> None:
    result = run("predict", "--box", box, str(ASTRONAUT), str(ASTRONAUT))
    assert_one_line(result, 1, "astronaut.jpg")
    assert result.stderr.count("error: ") == 2  # one line per file, and the batch went on


def test_debug_shows_the_traceback() -> None:
    assert "Traceback" not in run("predict", "--model", "4dfan", str(ASTRONAUT)).output
    for result in (run("--debug", "predict", "--model", "4dfan", str(ASTRONAUT)),
                   run("predict", "--model", "4dfan", str(ASTRONAUT), FANZOO_DEBUG="1")):
        assert "Traceback" in result.output and "UnknownModelError" in result.output
        assert result.exit_code == 2


def test_environment_failure_is_one_line(a_file: Path) -> None:
    """The cache is unusable ($FANZOO_HOME is a file): an OSError, said in one line."""
    result = run("weights", "fetch", "2dfan4", "--url", "http://127.0.0.1:9/2DFAN4-11f355bf06.pth.tar",
                 FANZOO_HOME=str(a_file))
    assert_one_line(result, 1, "error: ")
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture
def same_stems(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.png"
    shutil.copy(ASTRONAUT, first)
    import cv2
    cv2.imwrite(str(second), cv2.imread(str(ASTRONAUT)))
    return first, second


def test_same_stem_outputs_are_refused_before_the_work(same_stems: tuple[Path, Path], tmp_path: Path) -> None:
    first, second = same_stems
    result = predict(str(first), str(second), "--output", str(tmp_path / "out"), "--pts", str(tmp_path / "pts"))
    assert_one_line(result, 2, str(first), str(second))
    assert no_work_done(result) and not (tmp_path / "out").exists() and not (tmp_path / "pts").exists()
    assert predict(str(first), str(second), "--json", str(tmp_path / "r.json")).exit_code == 0  # no per-image files


def test_pts_names_of_several_faces_never_collide(tmp_path: Path) -> None:
    """x.jpg with two faces writes x_0.pts and x_1.pts; x_0.jpg with one face would write x_0.pts too: the
    second is an error of its own, and the first file stays."""
    shutil.copy(ASTRONAUT, tmp_path / "x.jpg")
    shutil.copy(ASTRONAUT, tmp_path / "x_0.jpg")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"x.jpg": [[179, 83, 266, 170], [10, 10, 60, 60]], "x_0.jpg": [[10, 10, 60, 60]]}))
    result = run("predict", "--boxes-json", str(boxes), str(tmp_path / "x.jpg"), str(tmp_path / "x_0.jpg"),
                 "--pts", str(tmp_path / "pts"))
    assert_one_line(result, 1, "x_0.pts", "already written")
    assert sorted(p.name for p in (tmp_path / "pts").iterdir()) == ["x_0.pts", "x_1.pts"]
    from fanzoo.pts import read_pts
    assert read_pts(tmp_path / "pts" / "x_0.pts")[:, 0].min() > 150  # x.jpg's first face, not x_0.jpg's


def test_an_input_is_never_overwritten(tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    import cv2
    cv2.imwrite(str(image), cv2.imread(str(ASTRONAUT)))
    before = image.read_bytes()
    for args in (["--output", str(image)], ["--json", str(image)]):
        result = predict(str(image), *args)
        assert_one_line(result, 2, "photo.png")
        assert image.read_bytes() == before


@pytest.mark.parametrize("args, message", [
    (["--model", "4dfan"], "unknown model '4dfan'"),
    (["--backend", "tensorflow"], "unknown backend 'tensorflow'"),
    (["--detector", "nope"], "nope"),
])
def test_unknown_names_are_usage_errors(args: list[str], message: str) -> None:
    assert_one_line(run("predict", *args, str(ASTRONAUT)), 2, message)


@pytest.mark.parametrize("content", ["{", "[[1, 2, 3]]", '{"a.jpg": 5}', "[" * 50_000 + "]" * 50_000])
def test_malformed_boxes_json_is_a_usage_error(tmp_path: Path, content: str) -> None:
    boxes = tmp_path / "boxes.json"
    boxes.write_text(content)
    result = run("predict", "--boxes-json", str(boxes), str(ASTRONAUT))
    assert_one_line(result, 2, "boxes.json")


def test_images_missing_from_the_boxes_json_are_reported(tmp_path: Path) -> None:
    shutil.copy(ASTRONAUT, tmp_path / "a.jpg")
    shutil.copy(ASTRONAUT, tmp_path / "b.jpg")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"a.jpg": [[179, 83, 266, 170]]}))
    result = run("predict", "--boxes-json", str(boxes), str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"),
                 "--json", str(tmp_path / "r.json"))
    assert_one_line(result, 1, "b.jpg", "boxes.json")
    images = {Path(i["path"]).name: i for i in json.loads((tmp_path / "r.json").read_text())["images"]}
    assert len(images["a.jpg"]["faces"]) == 1 and images["b.jpg"]["error"]


def test_error_lines_name_each_path_once(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "anim.gif").write_bytes(b"GIF89a" + bytes(30))
    inputs = [tmp_path / "empty.jpg", tmp_path / "text.jpg", tmp_path / "anim.gif", tmp_path / "missing.jpg"]
    result = predict(*map(str, inputs))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == len(inputs), result.stderr
    for line, path in zip(lines, inputs):
        assert line.count(path.name) == 1, line
    assert "unsupported format (GIF)" in lines[2]


def test_cuda_reports_match_the_runtime() -> None:
    """The listing says what the installed runtimes can do, on any machine (with or without a GPU)."""
    import onnxruntime

    backends = {b["name"]: b for b in json.loads(run("backends", "--json", "-").stdout)}
    cuda = backends["onnxruntime"]["devices"]["cuda"]
    assert cuda["available"] == ("CUDAExecutionProvider" in onnxruntime.get_available_providers())
    if not cuda["available"]:
        assert "onnxruntime-gpu" in cuda["reason"]


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_long_commands_check_their_out_folder_first(a_file: Path, command: str, tmp_path: Path) -> None:
    """evaluate and train write their folder after minutes or hours of work: an unwritable one is refused first."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(ASTRONAUT, data / "a.jpg")
    from fanzoo.pts import format_pts
    (data / "a.pts").write_text(format_pts([[200.0 + i % 10, 100.0 + i] for i in range(68)]))
    args = [command, str(data)] if command == "evaluate" else [command, str(data), "--max-iterations", "1"]
    result = run(*args, "--out", str(a_file / "out"))
    assert_one_line(result, 2, "--out")
