"""The scale-out engine's parts that need no cluster: its inputs, its results folder and its CLI checks."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from fanzoo.api import DEFAULT_DETECTOR
from fanzoo.cli import cli
from fanzoo.detection import make_box
from fanzoo.errors import InputError
from fanzoo.scale.job import AlignJob
from fanzoo.scale.sources import expand_inputs


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folders_lists_and_globs_give_each_image_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _touch(tmp_path / "set" / "a.jpg"), _touch(tmp_path / "set" / "b.png")
    deep = _touch(tmp_path / "set" / "sub" / "c.jpg")
    _touch(tmp_path / "set" / "a.pts")
    listing = tmp_path / "lists" / "todo.txt"
    listing.parent.mkdir()
    listing.write_text("# a comment\n\n../set/b.png\n" + str(deep) + "\nmissing.jpg\n")
    monkeypatch.chdir(tmp_path)
    found = expand_inputs(["set", str(listing), "set/**/*.jpg", str(a)])
    assert found == [str(a), str(b), str(deep), str(tmp_path / "lists" / "missing.jpg")]
    assert expand_inputs(["set"], recursive=True) == [str(a), str(b), str(deep)]
    assert all(os.path.isabs(p) for p in found)


def test_a_glob_that_matches_no_image_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path / "notes.pts")
    with pytest.raises(InputError, match=r"no image files match .*\(1 other paths do\)"):
        expand_inputs([str(tmp_path / "*")])


def test_given_boxes_replace_the_detector_in_the_job_identity() -> None:
    detected = AlignJob()
    boxed = AlignJob.with_boxes(by_name={"a.jpg": [make_box([1, 2, 30, 40])]}, detector_options={"threshold": 0.9})
    assert detected.identity()["detector"] == DEFAULT_DETECTOR and detected.identity()["boxes_sha256"] is None
    assert boxed.identity()["detector"] is None and boxed.identity()["boxes_sha256"]
    assert boxed.identity()["detector_options"] == {}  # no detector runs, so its options decide nothing
    tuned = AlignJob.with_boxes(detector_options={"threshold": 0.9})
    assert tuned.identity()["detector_options"] == {"threshold": 0.9} and tuned != detected
    assert boxed.boxes_for(Path("/x/a.jpg")) == [make_box([1, 2, 30, 40])]
    with pytest.raises(InputError, match=r"not listed in the boxes"):  # as the local engine: never a silent "no face"
        boxed.boxes_for(Path("/x/b.jpg"))
    assert AlignJob.with_boxes(by_name={"*": []}).boxes_for(Path("/x/b.jpg")) == []
    assert detected.boxes_for(Path("/x/a.jpg")) is None


@pytest.mark.parametrize("extra", [["--json", "-"], ["--pts", "pts"], ["--output", "out"]])
def test_ray_engine_refuses_per_image_outputs(tmp_path: Path, extra: list[str]) -> None:
    result = CliRunner().invoke(cli, ["predict", "--engine", "ray", "--results", str(tmp_path), "x.jpg", *extra])
    assert result.exit_code == 2 and "--engine local only" in result.output


def test_results_and_address_need_the_ray_engine(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", "--results", str(tmp_path), "x.jpg"])
    assert result.exit_code == 2 and "--engine ray" in result.output
    result = CliRunner().invoke(cli, ["predict", "--engine", "ray", "x.jpg"])
    assert result.exit_code == 2 and "needs --results DIR" in result.output


@pytest.fixture
def pa():
    return pytest.importorskip("pyarrow", reason="pyarrow comes with the Ray extra: pip install 'fanzoo[ray]'")


class TestResultsFolder:
    @pytest.fixture(autouse=True)
    def _arrow(self, pa) -> None:
        self.pa = pa

    def rows(self, *paths: str) -> list[dict]:
        face = {"box": [1.0, 2.0, 3.0, 4.0], "detector_score": 0.5, "landmarks": [[1.25, 2.5]] * 68,
                "landmark_scores": [0.75] * 68}
        return [{"path": p, "width": 10, "height": 20, "error": None, "faces": [face]} for p in paths]

    def test_shards_are_read_back_and_resumed_by_path(self, tmp_path: Path) -> None:
        from fanzoo.scale.results import ShardWriter, finished_paths, read_results, result_schema

        schema = result_schema(2, AlignJob().identity())
        writer = ShardWriter(tmp_path, schema, rows_per_shard=2)
        writer.add([self.pa.Table.from_pylist(self.rows("/a.jpg"), schema=result_schema(2))])
        assert writer.written == []  # below the shard size: kept until more come or close()
        writer.add([self.pa.Table.from_pylist(self.rows("/b.jpg", "/c.jpg"), schema=result_schema(2))])
        writer.add([self.pa.Table.from_pylist(self.rows("/d.jpg"), schema=result_schema(2))])
        writer.close()
        assert len(writer.written) == 2 and not list(tmp_path.glob(".*"))
        assert finished_paths(tmp_path, schema) == {"/a.jpg", "/b.jpg", "/c.jpg", "/d.jpg"}
        rows = read_results(tmp_path).to_pylist()
        assert sorted(r["path"] for r in rows) == ["/a.jpg", "/b.jpg", "/c.jpg", "/d.jpg"]
        assert rows[0]["faces"][0]["landmarks"][0] == [1.25, 2.5] and rows[0]["error"] is None

    def test_results_of_another_job_are_never_mixed_in(self, tmp_path: Path) -> None:
        from fanzoo.scale.results import ShardWriter, finished_paths, result_schema

        writer = ShardWriter(tmp_path, result_schema(2, AlignJob().identity()))
        writer.add([self.pa.Table.from_pylist(self.rows("/a.jpg"), schema=result_schema(2))])
        writer.close()
        with pytest.raises(InputError, match="another job \\(flip differ"):
            finished_paths(tmp_path, result_schema(2, AlignJob(flip=True).identity()))

    def test_foreign_and_damaged_parquet_files_are_refused(self, tmp_path: Path) -> None:
        import pyarrow.parquet as pq

        from fanzoo.scale.results import finished_paths, result_schema

        schema = result_schema(2, AlignJob().identity())
        pq.write_table(self.pa.table({"path": ["/a.jpg"]}), tmp_path / "theirs.parquet")
        with pytest.raises(InputError, match="not written by fanzoo"):
            finished_paths(tmp_path, schema)
        (tmp_path / "theirs.parquet").write_bytes(b"PAR1 broken")
        with pytest.raises(InputError, match="cannot read result shard .*theirs.parquet"):
            finished_paths(tmp_path, schema)

    @pytest.mark.parametrize("metadata", [b"{not json", b"[1, 2]", b"[" * 100_000 + b"]" * 100_000],
                             ids=["not json", "not an object", "nested too deeply"])
    def test_a_shard_with_damaged_metadata_is_refused(self, tmp_path: Path, metadata: bytes) -> None:
        import pyarrow.parquet as pq

        from fanzoo.scale.results import METADATA_KEY, finished_paths, result_schema

        table = self.pa.table({"path": ["/a.jpg"]}).replace_schema_metadata({METADATA_KEY: metadata})
        pq.write_table(table, tmp_path / "part-0.parquet")
        with pytest.raises(InputError, match="part-0.parquet has damaged fanzoo metadata"):
            finished_paths(tmp_path, result_schema(2, AlignJob().identity()))

    def test_one_run_at_a_time_and_stale_temporary_files_go(self, tmp_path: Path) -> None:
        from fanzoo.scale.results import locked

        stale = tmp_path / ".part-x-00000.parquet.abc.part"
        stale.write_bytes(b"half a shard")
        with locked(tmp_path):
            assert not stale.exists()
            with pytest.raises(InputError, match="another run is writing"), locked(tmp_path):
                pass


def test_an_absent_cluster_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    from fanzoo.errors import BackendUnavailableError
    from fanzoo.scale.engine import check_reachable

    with socket.socket() as unused:  # a port that nothing listens on: bound, never listening
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"
        with pytest.raises(BackendUnavailableError, match=f"no Ray cluster answers at {address}"):
            check_reachable(address)
    check_reachable("auto")  # left to Ray


def test_without_ray_the_engine_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from fanzoo.errors import BackendUnavailableError
    from fanzoo.scale.engine import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(BackendUnavailableError, match=r"pip install 'fanzoo\[ray\]'"):
        import_ray()
