"""A finished `fanzoo` process skips the interpreter's teardown, and loses nothing by it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fanzoo.cli.quick_exit import exit_code

from .conftest import ROOT

ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"


def run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def fanzoo(*args: str, quick: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from fanzoo.cli import main; main()", *args], capture_output=True,
                          text=True, env={**os.environ, "FANZOO_QUICK_EXIT": "1" if quick else "0"}, timeout=300)


def test_exit_codes_are_those_of_sys_exit(capsys: pytest.CaptureFixture) -> None:
    assert exit_code(None) == 0 and exit_code(0) == 0 and exit_code(2) == 2 and exit_code(True) == 1
    assert exit_code(256 + 3) == 3  # as the operating system truncates a status
    assert exit_code("a message") == 1 and capsys.readouterr().err == "a message\n"


def test_exit_handlers_run_and_output_is_flushed() -> None:
    done = run("""
        import atexit, sys
        from fanzoo.cli.quick_exit import finish
        atexit.register(lambda: print("handler ran", file=sys.stderr))
        sys.stdout.write("x" * 200_000)  # more than a pipe's buffer, unflushed
        finish(3)
    """)
    assert done.returncode == 3 and len(done.stdout) == 200_000 and done.stderr.count("handler ran") == 1


def test_the_teardown_is_skipped() -> None:
    script = """
        import sys
        from fanzoo.cli.quick_exit import finish
        class Held:
            def __del__(self):
                print("torn down", file=sys.stderr)
        held = Held()
        finish(0)
    """
    assert "torn down" not in run(script).stderr
    assert "torn down" in run(script, env={"FANZOO_QUICK_EXIT": "0"}).stderr


def test_a_running_thread_keeps_the_normal_exit(tmp_path: Path) -> None:
    marker = tmp_path / "written"
    done = run(f"""
        import threading, time
        from pathlib import Path
        from fanzoo.cli.quick_exit import finish
        def late():
            time.sleep(0.5)
            Path({str(marker)!r}).write_text("done")
        threading.Thread(target=late).start()
        finish(0)
    """)
    assert done.returncode == 0 and marker.read_text() == "done"


def test_quick_exit_can_be_turned_off() -> None:
    done = run("""
        import atexit, sys
        from fanzoo.cli.quick_exit import finish
        atexit.register(lambda: print("handler ran", file=sys.stderr))
        finish("stopped")
    """, env={"FANZOO_QUICK_EXIT": "0"})
    assert done.returncode == 1 and done.stderr.count("handler ran") == 1 and "stopped" in done.stderr


def test_predict_writes_the_same_results_with_and_without_it(tmp_path: Path) -> None:
    docs = []
    for quick in (True, False):
        out = tmp_path / f"{quick}.json"
        done = fanzoo("predict", "--box", "179,83,266,170", "--json", str(out), str(ASTRONAUT), quick=quick)
        assert done.returncode == 0, done.stderr
        doc = json.loads(out.read_text())
        docs.append((doc["images"], done.stdout))
    assert docs[0] == docs[1]
    listing = [fanzoo("models", quick=quick) for quick in (True, False)]
    assert listing[0].stdout == listing[1].stdout and listing[0].stdout.count("\n") > 3


def test_a_user_mistake_keeps_its_exit_status_and_message(tmp_path: Path) -> None:
    quick, normal = (fanzoo("predict", str(tmp_path / "missing.jpg"), quick=q) for q in (True, False))
    assert quick.returncode == normal.returncode != 0
    assert quick.stderr == normal.stderr and "Traceback" not in quick.stderr
