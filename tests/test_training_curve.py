"""Learning curves from a run's log.jsonl: which rows count, damaged logs named by line, a real PNG written
atomically, and a training run that never stops for its picture."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from fanzoo.errors import InputError
from fanzoo.training.curve import CURVE, main, plot_learning_curves, redraw, validation_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_log(folder: Path, rows: list[object], tail: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def run_rows(nmes: list[float], start_lr: float = 1e-3) -> list[dict]:
    return [{"iteration": 250 * (i + 1), "loss": 10.0 - i, "val_nme": v, "lr": start_lr / (i + 1)}
            for i, v in enumerate(nmes)]


def test_validation_rows_keeps_only_validations_in_order(tmp_path: Path) -> None:
    rows = run_rows([0.07, 0.05, 0.045])
    log = write_log(tmp_path, [rows[0], {"iteration": 300, "note": "no validation"}, rows[1], [1, 2], rows[2]])
    got = validation_rows(log)
    assert [r["iteration"] for r in got] == [250, 500, 750]
    assert [r["val_nme"] for r in got] == [0.07, 0.05, 0.045]
    assert got[0]["lr"] == pytest.approx(1e-3)


@pytest.mark.parametrize("tail, message", [
    ('{"iteration": 1000, "val_n', "line 3: not JSON"),              # cut off while appended
    ("[" * 100_000 + "]" * 100_000, "line 3: not JSON"),              # beyond the JSON parser's depth
    ('{"iteration": "x", "val_nme": 0.04}\n', "line 3: a validation row needs"),
    ('{"iteration": 1000, "val_nme": NaN}\n', "line 3: iteration 1000, val_nme nan out of range"),
])
def test_a_damaged_log_is_named_by_line(tmp_path: Path, tail: str, message: str) -> None:
    log = write_log(tmp_path, run_rows([0.07, 0.05]), tail)
    with pytest.raises(InputError, match=message):
        validation_rows(log)


def test_a_missing_or_binary_log_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such training log"):
        validation_rows(tmp_path / "log.jsonl")
    (tmp_path / "log.jsonl").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="not UTF-8"):
        validation_rows(tmp_path / "log.jsonl")


def test_plot_writes_a_png_atomically(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    runs = {"v2": write_log(tmp_path / "v2", run_rows([0.099, 0.07, 0.05, 0.042, 0.039])),
            "v1": write_log(tmp_path / "v1", run_rows([0.071, 0.064, 0.040]))}
    out = tmp_path / "out" / "curve.png"
    plot_learning_curves(runs, out)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert [p.name for p in out.parent.iterdir()] == ["curve.png"]  # no temporary file left beside it


def test_nothing_to_draw_is_an_input_error(tmp_path: Path) -> None:
    log = write_log(tmp_path, [{"iteration": 10, "loss": 1.0}])
    with pytest.raises(InputError, match="no validation rows"):
        plot_learning_curves({"run": log}, tmp_path / "curve.png")
    assert not (tmp_path / "curve.png").exists()


def test_redraw_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Called by the training loop after each validation: a damaged log is a warning, not a stopped run."""
    pytest.importorskip("matplotlib")
    write_log(tmp_path, run_rows([0.07]), '{"broken')
    with caplog.at_level(logging.WARNING, logger="fanzoo.training.curve"):
        redraw(tmp_path)
    assert "not JSON" in caplog.text and not (tmp_path / CURVE).exists()
    write_log(tmp_path, run_rows([0.07, 0.05]))
    redraw(tmp_path)
    assert (tmp_path / CURVE).read_bytes().startswith(PNG_MAGIC)


def test_command_labels_runs_and_reports_errors_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    write_log(tmp_path / "a" / "run", run_rows([0.07, 0.05]))
    write_log(tmp_path / "b" / "run", run_rows([0.06, 0.045]))
    out = tmp_path / "both.png"
    result = CliRunner().invoke(main, [str(tmp_path / "a" / "run"), str(tmp_path / "b" / "run"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)
    result = CliRunner().invoke(main, [str(tmp_path / "missing"), "-o", str(out)])
    assert result.exit_code == 1
    assert "no such training log" in result.output and "Traceback" not in result.output
