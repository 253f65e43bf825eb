"""benchmarks/goals.py: the start-up rows, from the medians a start-up test stores."""
from __future__ import annotations

from benchmarks.goals import LIBRARIES, goal_rows


def _startup(model: str, process: float, baseline: float, libraries: float | None = None) -> dict:
    medians = {"process fp32": process, "process fp32, baseline": baseline, "one face in a warm process": 0.010}
    if libraries is not None:
        medians[LIBRARIES] = libraries
    return {"extra_info": {"kind": "startup", "model": model, "medians_s": medians}}


def _rows(*benchmarks: dict) -> dict[str, dict]:
    return {row["what"].split(":")[0]: row for row in goal_rows(list(benchmarks), "partial", None)}


def test_fan4_start_up_is_the_goal_and_subtracts_the_warm_face() -> None:
    rows = _rows(_startup("2dfan4", 0.310, 0.610), _startup("2dfan-lite", 0.240, 0.330, libraries=0.200))
    fan, lite = rows["2dfan4"], rows["2dfan-lite"]
    assert fan["met"] == "met" and fan["measured"].startswith("0.50x (300 vs 600 ms)")
    assert _rows(_startup("2dfan4", 0.320, 0.610))["2dfan4"]["met"] == "NOT met"
    # 2dfan-lite is measured beside it, with the floor of the three imports against the baseline's start-up
    assert lite["met"] == "n/a" and "measured" in lite["goal"]
    assert lite["measured"] == "0.72x (230 vs 320 ms); importing numpy, cv2, onnxruntime alone: 200 ms (0.62x)"


def test_a_run_without_the_baseline_has_no_start_up_row() -> None:
    record = _startup("2dfan4", 0.3, 0.6)
    del record["extra_info"]["medians_s"]["process fp32, baseline"]
    assert _rows(record) == {}
