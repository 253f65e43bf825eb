"""Plugin containment and controls, with real distributions installed into a temporary site folder.

A broken, clashing or misbehaving plugin is left out and reported in one line; everything else works.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fanzoo.errors import UnknownBackendError, UnknownModelError
from fanzoo.plugins import LOAD_ENV, Plugins, make_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "images" / "astronaut.jpg"


def install(site: Path, dist: str, entry_point: str, code: str) -> None:
    """A distribution as pip lays it out: its module, and a dist-info folder with METADATA and entry_points.txt."""
    module = dist.replace("-", "_")
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{module}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[fanzoo]\n{entry_point} = {module}\n")


BACKEND = """
from fanzoo.hookspecs import hookimpl
from fanzoo_onnxruntime import OnnxRuntimeBackend

class Renamed(OnnxRuntimeBackend):
    name = {name!r}

@hookimpl
def register_backends(register):
    register(Renamed())
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site folder on sys.path; each test's distributions get names of their own (sys.modules keeps modules)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv(LOAD_ENV, raising=False)
    return folder


def collect() -> Plugins:
    return Plugins.collect(make_plugin_manager())


def record(found: Plugins, dist: str):
    return next(r for r in found.records if r.distribution == dist)


def test_a_plugin_that_fails_to_import_is_reported_in_one_line(site: Path) -> None:
    install(site, "fanzoo-broken-import", "broken", "raise ImportError('needs libfoo, which is not installed')\n")
    found = collect()
    broken = record(found, "fanzoo-broken-import")
    assert broken.status == "failed" and broken.plugin is None
    assert found.problems() == ["fanzoo-broken-import: cannot import fanzoo_broken_import: "
                                "ImportError: needs libfoo, which is not installed"]
    assert "onnxruntime" in found.backends and "2dfan4" in found.models  # the others are untouched


def test_a_register_hook_that_raises_contributes_nothing(site: Path) -> None:
    install(site, "fanzoo-raising", "raising", BACKEND.format(name="half-registered") + textwrap.dedent("""
        @hookimpl
        def register_detectors(register):
            raise RuntimeError("detector setup failed\\nsecond line")
        """))
    found = collect()
    raising = record(found, "fanzoo-raising")
    assert raising.status == "failed"
    assert raising.problems == ["register_detectors raised RuntimeError: detector setup failed; "
                                "nothing it registers is used"]
    assert "half-registered" not in found.backends and "onnxruntime" in found.backends


def test_a_hook_with_a_misspelt_name_is_reported(site: Path) -> None:
    install(site, "fanzoo-typo", "typo", """
        from fanzoo.hookspecs import hookimpl

        @hookimpl
        def register_backend(register):
            pass
        """)
    assert record(collect(), "fanzoo-typo").problems == [
        "implements register_backend, which is not a fanzoo hook (see docs/plugins.md)"]


def test_a_backend_that_breaks_the_contract_is_left_out_with_the_reason(site: Path) -> None:
    install(site, "fanzoo-nodesc", "nodesc", BACKEND.format(name="nodesc") + "Renamed.description = ''\n")
    found = collect()
    assert "nodesc" not in found.backends
    assert record(found, "fanzoo-nodesc").problems == ["backend 'nodesc' left out: `description` must be a non-empty string"]
    with pytest.raises(UnknownBackendError, match="backend 'nodesc' was left out: `description` must be"):
        found.backend("nodesc")


def test_builtins_win_a_name_clash(site: Path) -> None:
    install(site, "fanzoo-shadow", "shadow", """
        from dataclasses import replace
        from fanzoo.builtin_models import builtin_specs
        from fanzoo.hookspecs import hookimpl

        @hookimpl
        def register_models(register):
            register(replace(builtin_specs()[0], description="not the real 2dfan4"))
        """)
    found = collect()
    assert found.models.get("2dfan4").description != "not the real 2dfan4"
    assert record(found, "fanzoo-shadow").problems[0] == (
        "model '2dfan4' is already registered by fanzoo.builtin_models (built-ins win); this one is left out")


def test_the_plugin_named_after_a_backend_wins_a_clash(site: Path) -> None:
    install(site, "fanzoo-impostor", "impostor", BACKEND.format(name="onnxruntime"))
    found = collect()
    assert type(found.backends["onnxruntime"]).__module__ == "fanzoo_onnxruntime"
    assert record(found, "fanzoo-impostor").problems == [
        "backend 'onnxruntime' is already registered by fanzoo-onnxruntime (its entry point is named "
        "'onnxruntime'); this one is left out"]


def test_an_unsettled_clash_uses_neither_and_names_both(site: Path) -> None:
    install(site, "fanzoo-twin-a", "twin-a", BACKEND.format(name="twin"))
    install(site, "fanzoo-twin-b", "twin-b", BACKEND.format(name="twin"))
    found = collect()
    assert "twin" not in found.backends and "onnxruntime" in found.backends
    with pytest.raises(UnknownBackendError, match="registered by both fanzoo-twin-a and fanzoo-twin-b, so neither is used"):
        found.backend("twin")
    assert record(found, "fanzoo-twin-a").problems == ["backend 'twin' is also registered by fanzoo-twin-b; neither is used"]


def test_an_unsettled_model_clash_names_both(site: Path) -> None:
    spec = """
        from dataclasses import replace
        from fanzoo.builtin_models import lite_spec
        from fanzoo.hookspecs import hookimpl

        @hookimpl
        def register_models(register):
            register(replace(lite_spec(), name="sharedfan", aliases=()))
        """
    install(site, "fanzoo-fan-a", "fan-a", spec)
    install(site, "fanzoo-fan-b", "fan-b", spec)
    with pytest.raises(UnknownModelError, match="model 'sharedfan' is registered by both fanzoo-fan-a and fanzoo-fan-b"):
        collect().model("sharedfan")


def test_load_env_limits_which_entry_points_load(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(site, "fanzoo-limited", "limited", "raise ImportError('must not be imported')\n")
    monkeypatch.setenv(LOAD_ENV, "fanzoo_onnxruntime, fanzoo-not-installed")  # pip's name rules: _ and - match
    found = collect()
    assert set(found.backends) == {"onnxruntime"}
    assert record(found, "fanzoo-limited").status == "skipped"
    assert found.problems() == [f"{LOAD_ENV} names fanzoo-not-installed, which is not an installed fanzoo plugin"]
    monkeypatch.setenv(LOAD_ENV, "")
    found = collect()
    assert found.backends == {} and "2dfan4" in found.models and "dlib-hog" in found.detectors  # built-ins always


def fanzoo(args: list[str], site: Path, **env: str) -> subprocess.CompletedProcess:
    """The real command line, in a fresh interpreter that sees the site folder's distributions."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "NO_COLOR": "1", **env}
    environment.pop(LOAD_ENV, None)
    return subprocess.run([sys.executable, "-c", "from fanzoo.cli import main; main()", *args], capture_output=True,
                          text=True, env=environment, timeout=300)


@pytest.fixture
def troubled_site(site: Path) -> Path:
    """A broken import, a clash with a built-in command, a clash with a built-in model, and a good command."""
    install(site, "fanzoo-broken", "broken", "import fanzoo_missing_dependency\n")
    install(site, "fanzoo-greeter", "greeter", """
        import click
        from fanzoo.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            @click.argument("name")
            def hello(name):
                \"\"\"Greet NAME.\"\"\"
                click.echo(f"hello {name}")

            @cli.command()
            def predict():
                click.echo("hijacked")
        """)
    return site


def test_predict_works_with_broken_plugins_installed(troubled_site: Path, tmp_path: Path) -> None:
    done = fanzoo(["predict", "--backend", "onnxruntime", str(PHOTO), "--json", "-"], troubled_site,
                  FANZOO_HOME=str(tmp_path / "home"))
    assert done.returncode == 0, done.stderr
    faces = json.loads(done.stdout)["images"][0]["faces"]
    assert len(faces) == 1 and len(faces[0]["landmarks"]) == 68
    warnings = [line for line in done.stderr.splitlines() if "plugin fanzoo-" in line]
    assert warnings == [
        "WARNING fanzoo.plugins: plugin fanzoo-broken: cannot import fanzoo_broken: "
        "ModuleNotFoundError: No module named 'fanzoo_missing_dependency'",
        "WARNING fanzoo.plugins: plugin fanzoo-greeter: command 'predict' is a fanzoo command (built-ins win); left out"]


def test_fanzoo_plugins_lists_and_reports(troubled_site: Path) -> None:
    done = fanzoo(["plugins"], troubled_site)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["plugin", "version", "hooks", "provides", "status"]
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.startswith("fanzoo-") and "  " in line}
    assert rows["fanzoo-broken"][-1] == "failed" and rows["fanzoo-greeter"][-1] == "error"
    assert rows["fanzoo-onnxruntime"] == ["fanzoo-onnxruntime", "0.1.0", "register_backends", "backends", "onnxruntime", "ok"]
    assert "fanzoo-broken: cannot import fanzoo_broken: ModuleNotFoundError: No module named 'fanzoo_missing_dependency'" \
        in lines
    listed = json.loads(fanzoo(["plugins", "--json", "-"], troubled_site).stdout)["plugins"]
    greeter = next(p for p in listed if p["distribution"] == "fanzoo-greeter")
    assert greeter["hooks"] == ["register_commands"] and greeter["provides"] == {"commands": ["hello"]}


def test_a_plugin_adds_a_command(troubled_site: Path) -> None:
    done = fanzoo(["hello", "world"], troubled_site)
    assert done.returncode == 0 and done.stdout == "hello world\n"
    assert "hello" in fanzoo(["--help"], troubled_site).stdout
    listing = fanzoo(["backends"], troubled_site)
    assert listing.returncode == 0 and "onnxruntime" in listing.stdout


def test_the_backends_listing_survives_a_misbehaving_backend(site: Path) -> None:
    import re

    from click.testing import CliRunner

    import fanzoo.cli.info  # noqa: F401  (registers the subcommands)
    from fanzoo.cli import cli
    from fanzoo.plugins import use_plugins

    install(site, "fanzoo-oddity", "oddity", BACKEND.format(name="oddity") + "Renamed.devices = lambda self: ['cpu']\n")
    with use_plugins(collect()):
        result = CliRunner().invoke(cli, ["backends"])
    assert result.exit_code == 0, result.output
    assert "  oddity: TypeError: devices() must return fanzoo.backend.DeviceStatus objects, got str" in result.output
    assert re.search(r"^onnxruntime +1\.\d+", result.output, re.M)
