"""Weight tags in the cache: a file takes a published tag only by its hash, a user's own file is its own tag."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fanzoo.errors import WeightsError
from fanzoo.plugins import use_plugins
from fanzoo.registry import WeightsSource
from fanzoo.weights.store import sha256_file

from .conftest import FIXTURES
from .tiny import plugins_with, tiny_spec, tiny_tag

AUTHORS_FILE = FIXTURES / "tiny_fan_legacy.pth.tar"
OTHER_FILE = FIXTURES / "tiny_fan_zip.pth"  # the same tensors, another file: not the published one


@pytest.fixture
def published():
    """tinyfan.official is AUTHORS_FILE: its registry entry carries that file's hash prefix."""
    prefix = sha256_file(AUTHORS_FILE)[:10]
    source = WeightsSource(f"https://example.invalid/tiny_fan-{prefix}.pth.tar", "torch", sha256_prefix=prefix)
    with use_plugins(plugins_with(tiny_spec(), tiny_tag(source))) as p:
        yield p.models.get("tinyfan")


def test_published_file_is_the_published_tag(published) -> None:
    from fanzoo.weights.importer import import_file
    from fanzoo.weights.tags import lookup

    done = import_file(published, AUTHORS_FILE)
    assert done.model.name == "tinyfan.official" and not done.model.weights.user
    assert done.record.source_sha256 == sha256_file(AUTHORS_FILE) and done.record.source_format == "torch"
    assert lookup("tinyfan").name == "tinyfan.official"


def test_own_file_never_replaces_the_published_tag(published) -> None:
    from fanzoo.weights.importer import import_file
    from fanzoo.weights.store import cached_weights, local_weights
    from fanzoo.weights.tags import all_tags, lookup

    done = import_file(published, OTHER_FILE)
    assert done.model.name == "tinyfan.local" and done.model.weights.user
    assert local_weights(lookup("tinyfan").weights) is None  # the default is still the published tag, not here
    with pytest.raises(WeightsError, match="not the published tinyfan.official"):
        import_file(published, OTHER_FILE, tag="official")
    assert not cached_weights(lookup("tinyfan.official").weights).exists()
    mine = import_file(published, OTHER_FILE, tag="mine", subpixel="gaussian", license="CC-BY-4.0")
    assert mine.model.name == "tinyfan.mine"
    found = {t.name: t for t in all_tags(published)}
    assert set(found) == {"tinyfan.official", "tinyfan.local", "tinyfan.mine"}
    assert found["tinyfan.mine"].subpixel == "gaussian" and found["tinyfan.mine"].license == "CC-BY-4.0"
    assert lookup("tinyfan.mine").weights.subpixel == "gaussian"


def test_bad_tag_names_and_registered_decoding(published) -> None:
    from fanzoo.weights.importer import import_file

    with pytest.raises(WeightsError, match="bad weight tag"):
        import_file(published, OTHER_FILE, tag="Not A Tag")
    with pytest.raises(WeightsError, match="registered tag"):
        import_file(published, AUTHORS_FILE, subpixel="gaussian")


def test_reimport_says_what_it_replaces(published, tmp_path: Path) -> None:
    from fanzoo.weights.h5params import write_h5_params
    from fanzoo.weights.importer import import_file
    from fanzoo.weights.params import read_npz

    first = import_file(published, OTHER_FILE)
    assert first.replaced is None
    assert import_file(published, OTHER_FILE).replaced is None  # the same weights again replace nothing
    changed = {k: v * 1.5 for k, v in read_npz(first.path).items()}
    write_h5_params(tmp_path / "changed.h5", changed)
    again = import_file(published, tmp_path / "changed.h5")
    assert again.replaced is not None and again.replaced.source == OTHER_FILE.name


def test_cli_import_and_models_show_tags(published) -> None:
    from fanzoo.cli import cli, info, weights  # noqa: F401

    result = CliRunner().invoke(cli, ["weights", "import", "tinyfan", str(OTHER_FILE)])
    assert result.exit_code == 0, result.output
    assert "tinyfan.local: imported" in result.output and "--model tinyfan.local" in result.output
    result = CliRunner().invoke(cli, ["weights", "import", "tinyfan.official", str(OTHER_FILE)])
    assert result.exit_code == 1 and "not the published tinyfan.official" in result.output
    models = {m["name"]: m for m in json.loads(CliRunner().invoke(cli, ["models", "--json", "-"]).stdout)}
    tags = {t["name"]: t for t in models["tinyfan"]["tags"]}
    assert tags["tinyfan.official"]["default"] and tags["tinyfan.official"]["weights"] is None
    assert not tags["tinyfan.local"]["default"] and tags["tinyfan.local"]["weights"].endswith("tinyfan.local.npz")
    lite = {t["name"]: t for t in models["2dfan-lite"]["tags"]}["2dfan-lite.300w"]
    assert lite["default"] and "non-commercial" in lite["license"] and models["2dfan-lite"]["code_license"] == "BSD-3-Clause"
    text = CliRunner().invoke(cli, ["models"]).output
    assert "*official (not here)" in text and "2dfan-lite.300w: non-commercial" in text
