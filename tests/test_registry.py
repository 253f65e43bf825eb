"""Every registered model has a complete, consistent spec; declared sizes match the built graphs."""
from __future__ import annotations

import re

import pytest

from fanzoo.errors import UnknownModelError
from fanzoo.plugins import Plugins, make_plugin_manager, registry

SPECS = list(registry())


def test_expected_models_and_aliases() -> None:
    reg = registry()
    for name in ("2dfan4", "3dfan4", "resnetdepth", "2dfan1", "2dfan2", "2dfan3"):
        assert name in reg
    assert reg.get("2dfan").name == "2dfan4"
    assert reg.get("3DFAN").name == "3dfan4"
    assert reg.get("3dfan4").depth_model == "resnetdepth"


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="known models: .*2dfan4"):
        registry().get("4dfan")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_schema(spec) -> None:
    assert spec.name == spec.name.lower() and re.fullmatch(r"[a-z0-9][a-z0-9-]*", spec.name)
    assert re.fullmatch(r"[\w.]+:\w+", spec.builder)
    assert spec.inputs and spec.outputs and spec.inputs[0].shape[0] is None
    assert spec.params > 0 and spec.gmacs > 0 and spec.paper and spec.license and spec.description
    assert 0 < spec.tolerance <= 1e-3
    if spec.task == "landmarks":
        assert spec.tolerance <= 1e-4
    if spec.task == "landmarks":
        pre = spec.preprocessing
        assert pre is not None and pre.reference_scale > 0 and abs(pre.center_y_offset) < 0.5
        if spec.weights:  # the authors' weights expect the authors' crop
            assert pre.reference_scale == 195 and pre.center_y_offset == 0.12
        assert spec.outputs[0].shape[1:] == (68, pre.heatmap_size, pre.heatmap_size)
        assert spec.inputs[0].shape[1:] == (3, pre.input_size, pre.input_size)
    if spec.depth_model:
        assert registry().get(spec.depth_model).task == "depth"
    for source in spec.weights:
        assert source.url.startswith("https://") and source.format in ("nnabla-h5", "torch")
        if source.sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", source.sha256)
        if source.sha256_prefix:
            assert re.fullmatch(r"[0-9a-f]{8,64}", source.sha256_prefix)
        if source.format == "torch":
            assert source.sha256_prefix and source.sha256_prefix in source.file_name


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_declared_size_matches_graph(spec) -> None:
    pytest.importorskip("nnabla")
    from fanzoo.graph import build
    from fanzoo.models.complexity import count_macs, count_params

    net = build(spec, 1)
    assert count_params(net.params) == spec.params
    assert count_macs(net.y) / 1e9 == pytest.approx(spec.gmacs, abs=1e-3)


def test_fresh_plugin_manager_sees_builtins_only() -> None:
    fresh = Plugins.collect(make_plugin_manager(load_entry_points=False))
    assert "2dfan4" in fresh.models and "dlib-hog" in fresh.detectors
    assert fresh.backends == {}


def test_every_hookspec_is_documented() -> None:
    from fanzoo import hookspecs

    pm = make_plugin_manager(load_entry_points=False)
    for name in ("register_models", "register_backends", "register_detectors"):
        hook = getattr(pm.hook, name)
        assert getattr(hookspecs, name).__doc__.strip(), name
        assert hook.spec is not None
