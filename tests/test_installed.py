"""fanzoo.installed: answers kept between processes, and never kept past an install that changes them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fanzoo import installed

QUERY = """
import json, sys
from fanzoo import installed
points = [(p.name, p.value, p.distribution, p.version) for p in installed.entry_points("fanzoo")]
print(json.dumps({"points": points, "ort": installed.version("onnxruntime"), "absent": installed.version("fanzoo-absent"),
                  "metadata_imported": "importlib.metadata" in sys.modules}))
"""


def install(site: Path, dist: str, version: str = "0.1.0", entry: str = "demo = fanzoo_demo") -> Path:
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[fanzoo]\n{entry}\n")
    return info


def query(site: Path, home: Path, **env: str) -> dict:
    """The answers of a new process whose cache file is in ``home``."""
    environment = {**os.environ, "PYTHONPATH": str(site), installed.CACHE_ENV: str(home / installed.CACHE_FILE), **env}
    out = subprocess.run([sys.executable, "-c", QUERY], env=environment, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_second_process_does_not_scan_and_gets_the_same_answers(tmp_path: Path) -> None:
    site, home = tmp_path / "site", tmp_path / "home"
    install(site, "fanzoo-demo")
    first, second = query(site, home), query(site, home)
    assert first["metadata_imported"] and not second["metadata_imported"]
    assert first == {**second, "metadata_imported": True}
    assert ["demo", "fanzoo_demo", "fanzoo-demo", "0.1.0"] in first["points"]
    assert first["ort"] and first["absent"] is None
    # and with the cache turned off, every process asks
    assert query(site, home, FANZOO_INSTALLED_CACHE="0")["metadata_imported"]


def test_installs_uninstalls_and_rewrites_are_seen_by_the_next_process(tmp_path: Path) -> None:
    site, home = tmp_path / "site", tmp_path / "home"
    site.mkdir()
    assert query(site, home)["absent"] is None
    info = install(site, "fanzoo-absent", "2.0")
    assert query(site, home)["absent"] == "2.0"
    (info / "entry_points.txt").write_text("[fanzoo]\nrenamed = fanzoo_absent.plugin:hooks\n")  # rewritten in place
    points = query(site, home)["points"]
    assert ["renamed", "fanzoo_absent.plugin:hooks", "fanzoo-absent", "2.0"] in points
    for path in info.iterdir():  # uninstalled
        path.unlink()
    info.rmdir()
    after = query(site, home)
    assert after["absent"] is None and not any(p[2] == "fanzoo-absent" for p in after["points"])


def test_by_default_the_answers_live_in_the_installation_not_in_fanzoo_home(tmp_path: Path) -> None:
    """$FANZOO_HOME holds what the user fetched or made; a failed command must leave it as it was."""
    site, home = tmp_path / "site", tmp_path / "home"
    install(site, "fanzoo-demo")
    home.mkdir()
    environment = {k: v for k, v in os.environ.items() if k != installed.CACHE_ENV}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", QUERY], capture_output=True, text=True, check=True,
                              env={**environment, "PYTHONPATH": str(site), "FANZOO_HOME": str(home)})
    assert list(home.iterdir()) == []
    cache = Path(installed.__file__).parent / "__pycache__"
    if os.access(cache, os.W_OK):  # a read-only install keeps nothing, and every process asks
        assert (cache / installed.CACHE_FILE).is_file() and not json.loads(done.stdout)["metadata_imported"]


@pytest.mark.parametrize("content", ["not json", '{"scans": []}', '{"scans": {"k": {"versions": {"x": 1}}}}',
                                     "[" * 100_000 + "]" * 100_000])
def test_a_damaged_cache_is_ignored_and_replaced(tmp_path: Path, content: str) -> None:
    site, home = tmp_path / "site", tmp_path / "home"
    install(site, "fanzoo-demo")
    home.mkdir()
    (home / installed.CACHE_FILE).write_text(content)
    answers = query(site, home)
    assert ["demo", "fanzoo_demo", "fanzoo-demo", "0.1.0"] in answers["points"]
    assert "scans" in json.loads((home / installed.CACHE_FILE).read_text())


def test_a_cached_entry_point_that_is_not_an_import_path_is_refused(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache is a file a user's other processes can write: whatever it holds is checked before use."""
    monkeypatch.setenv(installed.CACHE_ENV, str(tmp_path / installed.CACHE_FILE))
    key = installed._fingerprint()
    point = {"name": "x", "value": "os; import shutil", "distribution": "d", "version": "1"}
    (tmp_path / installed.CACHE_FILE).write_text(json.dumps({"scans": {key: {"entry_points": {"fanzoo": [point]}}}}))
    assert all(p.value != point["value"] for p in installed.entry_points("fanzoo"))


def test_an_unwritable_home_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder would be")
    monkeypatch.setenv(installed.CACHE_ENV, str(blocked / "home" / installed.CACHE_FILE))
    assert installed.version("onnxruntime") is not None
    assert any(p.distribution == "fanzoo-onnxruntime" for p in installed.entry_points("fanzoo"))


def test_entry_point_values_load_as_the_specification_says() -> None:
    point = installed.FoundEntryPoint("x", "os.path : join", None, None)
    assert point.load() is os.path.join
    with pytest.raises(ValueError):
        installed.FoundEntryPoint("x", "not a value!", None, None).load()
