"""An older fanzoo, run beside this one: the start-up goal is "at most half of the baseline's", measured in one run.

The baseline is a git revision of this repository (``FANZOO_BENCH_BASELINE``, default: the commit before the
start-up work). Its ``fanzoo`` and ``fanzoo_onnxruntime`` packages are extracted with ``git archive`` and put
first on PYTHONPATH, so the same Python and libraries run the older code. Its artifacts are this run's fp32
files under a MANIFEST written in the older schema.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from .conftest import CACHE, ROOT, artifact_dir

log = logging.getLogger(__name__)

DEFAULT_REVISION = "5ac4a95"  # main before the speed work: eager imports, no graph cache
# the plugins installed here load in the baseline's process too (entry points): the older revision's own come first
PACKAGES = ("fanzoo", "plugins/fanzoo-onnxruntime/fanzoo_onnxruntime", "plugins/fanzoo-nnabla/fanzoo_nnabla")
OLD_ENTRY_FIELDS = ("format", "file", "sha256", "opset", "batch", "max_relative_error")


def revision() -> str | None:
    value = os.environ.get("FANZOO_BENCH_BASELINE", DEFAULT_REVISION)
    return value if value and value != "none" else None


@cache
def _tree(rev: str) -> Path | None:
    """The baseline's packages, extracted once into the benchmark cache; None without git or that revision."""
    target = CACHE / f"baseline-{rev}"
    if (target / "fanzoo" / "__init__.py").is_file():
        return target
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        return None
    archive = subprocess.run([git, "-C", str(ROOT), "archive", "--format=tar", rev, *PACKAGES], capture_output=True)
    if archive.returncode != 0:
        log.warning("baseline %s unavailable: %s", rev, archive.stderr.decode(errors="replace")[-200:])
        return None
    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
    os.replace(partial, target)
    return target


def _artifacts(model: str, rev: str) -> Path:
    """This run's fp32 artifact of ``model`` (hard-linked), under a MANIFEST the baseline can read."""
    from fanzoo.export.manifest import read_manifest

    source = artifact_dir(model, "onnx")
    folder = CACHE / f"baseline-{rev}-artifacts" / model
    folder.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(read_manifest(source).to_json())
    entry = {k: v for k, v in manifest["artifacts"]["onnx"].items() if k in OLD_ENTRY_FIELDS}
    manifest["artifacts"] = {"onnx": entry}
    # schema 1, before weight tags: no tag, licence, provenance or decoding of its own (the crop held the rule)
    decoding = manifest.pop("decoding", None) or {}
    if manifest.get("preprocessing") is not None:
        manifest["preprocessing"]["subpixel"] = decoding.get("subpixel", "quarter")
    for field in ("tag", "license", "made_by", "graph_sha256"):
        manifest.pop(field, None)
    if manifest.get("depth_model"):
        manifest["depth_model"].pop("tag", None)
    manifest["schema_version"] = 1
    if entry.get("max_relative_error") is None:
        entry["max_relative_error"] = 0.0  # a bound artifact: schema 1 has no way to say "not measured"
    target = folder / entry["file"]
    if target.exists() and not os.path.samefile(target, source / entry["file"]):
        target.unlink()
    if not target.exists():
        try:
            os.link(source / entry["file"], target)
        except OSError:
            shutil.copy2(source / entry["file"], target)
    (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return folder.parent


def _newer_plugins_left_out(tree: Path) -> Path:
    """A folder of empty modules, one for each installed plugin that the baseline's tree does not have.

    The older fanzoo loads every installed entry point, and a plugin written for today's core (OpenVINO) fails
    to import against the older one; shadowed by an empty module, it registers nothing, so the baseline runs
    as it was released.
    """
    import importlib.metadata

    folder = tree.with_name(tree.name + "-left-out")
    have = {p.name for p in (tree / "plugins").glob("*/*") if p.is_dir()}
    for point in importlib.metadata.entry_points(group="fanzoo"):
        module = point.value.split(":")[0].split(".")[0]
        if module not in have and module != "fanzoo":
            (folder / module).mkdir(parents=True, exist_ok=True)
            (folder / module / "__init__.py").write_text('"""Left out of the baseline\'s process (newer than it)."""\n')
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def baseline_command(model: str) -> tuple[list[str], dict[str, str], Path] | None:
    """(command, environment, artifacts folder) that runs the baseline's CLI, or None when there is no baseline."""
    rev = revision()
    tree = _tree(rev) if rev else None
    if tree is None:
        return None
    path = os.pathsep.join([str(tree), *(str(tree / "plugins" / p) for p in ("fanzoo-onnxruntime", "fanzoo-nnabla")),
                            str(_newer_plugins_left_out(tree))])
    # `python -c` puts the working directory first on sys.path, ahead of PYTHONPATH: run from this tree's root
    # and the current fanzoo would be imported instead. So the baseline runs from its own folder, and refuses
    # to run any fanzoo but its own.
    code = ("import sys, fanzoo; from pathlib import Path; "
            f"root = Path({str(tree)!r}).resolve(); "
            "sys.exit(f'not the baseline: {fanzoo.__file__}') if root not in Path(fanzoo.__file__).resolve().parents "
            "else None; from fanzoo.cli import main; sys.exit(main())")
    return [sys.executable, "-c", code], {"PYTHONPATH": path}, _artifacts(model, rev)


def baseline_folder() -> Path | None:
    """The folder the baseline's processes run in (its own tree), or None without a baseline."""
    rev = revision()
    return _tree(rev) if rev else None
