"""Every registered model has a complete, consistent spec; declared sizes match the built graphs."""
from __future__ import annotations

import re

import numpy as np
import pytest

from fanzoo.errors import UnknownModelError
from fanzoo.plugins import Plugins, make_plugin_manager, registry
from fanzoo.registry import ModelRegistry, WeightTag
from fanzoo.weights.tags import depth_of, lookup

SPECS = list(registry())
TAGS = [tag for spec in SPECS for tag in registry().tags(spec.name)]


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
    if spec.task == "landmarks":
        pre = spec.preprocessing
        assert pre is not None and pre.reference_scale > 0 and abs(pre.center_y_offset) < 0.5
        if any(t.tag == "official" for t in registry().tags(spec.name)):  # the authors' weights: their crop
            assert pre.reference_scale == 195 and pre.center_y_offset == 0.12
        assert spec.outputs[0].shape[1:] == (68, pre.heatmap_size, pre.heatmap_size)
        assert spec.inputs[0].shape[1:] == (3, pre.input_size, pre.input_size)
    if spec.depth_model:
        assert registry().get(spec.depth_model).task == "depth"
    # every architecture has exactly one default tag
    default = registry().default_tag(spec.name)
    assert default.default and default.model == spec.name


@pytest.mark.parametrize("tag", TAGS, ids=lambda t: t.name)
def test_tag_schema(tag: WeightTag) -> None:
    from fanzoo.decoding import SUBPIXEL_RULES
    from fanzoo.weights.store import bundled_weights

    spec = registry().get(tag.model)
    assert tag.license and tag.description and tag.subpixel in SUBPIXEL_RULES and not tag.user
    assert 0 < tag.tolerance <= (1e-3 if spec.task == "depth" else 1e-4)
    assert tag.sources or tag.bundled, "a registered tag says where its weights come from"
    if tag.bundled:
        assert bundled_weights(tag).is_file()
    for source in tag.sources:
        assert source.url.startswith("https://") and source.format in ("nnabla-h5", "torch")
        if source.sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", source.sha256)
        if source.sha256_prefix:
            assert re.fullmatch(r"[0-9a-f]{8,64}", source.sha256_prefix)
        if source.format == "torch":
            assert source.sha256_prefix and source.sha256_prefix in source.file_name
    if spec.depth_model:
        depth = depth_of(lookup(tag.name))
        assert depth is not None and not depth.weights.user, f"{tag.name} needs a registered depth tag"


def test_names_with_tags() -> None:
    assert lookup("2dfan4").name == "2dfan4.official" and not lookup("2dfan4").explicit
    assert lookup("2DFAN.official").name == "2dfan4.official" and lookup("2dfan.official").explicit
    assert lookup("3dfan").name == "3dfan4.official" and depth_of(lookup("3dfan")).name == "resnetdepth.official"
    assert lookup("2dfan-lite").name == "2dfan-lite.300w" and lookup("lite").weights.subpixel == "gaussian"
    # an architecture without published weights defaults to the user's own
    assert lookup("2dfan1").name == "2dfan1.local" and lookup("2dfan1").weights.user
    assert lookup("2dfan4.local").weights.user and not lookup("2dfan4.local").weights.default
    with pytest.raises(UnknownModelError, match="no weight tag 'nope'; its tags: 2dfan4.official"):
        lookup("2dfan4.nope")


def test_default_weights_licence_is_non_commercial() -> None:
    lite = lookup("2dfan-lite").weights
    assert "non-commercial" in lite.license and "300-W" in lite.license
    assert registry().get("2dfan-lite").license == "BSD-3-Clause"


def test_tag_registration_rules() -> None:
    reg = ModelRegistry(SPECS[:1])
    reg.register(WeightTag(SPECS[0].name, "a", "x", default=True))
    with pytest.raises(ValueError, match="two default"):
        reg.register(WeightTag(SPECS[0].name, "b", "x", default=True))
    with pytest.raises(ValueError, match="registered twice"):
        reg.register(WeightTag(SPECS[0].name, "a", "x"))
    with pytest.raises(ValueError, match="the user's"):
        reg.register(WeightTag(SPECS[0].name, "local", "x"))
    reg.register(WeightTag("nosuch", "a", "x"))
    with pytest.raises(ValueError, match="not a registered architecture"):
        reg.check()


def test_a_model_default_batch_is_a_whole_number() -> None:
    """A plugin's spec with a nonsense default batch is refused at registration, not at its first prediction."""
    from dataclasses import replace

    for bad in (0, -2, True, 2.5, "8"):
        with pytest.raises(ValueError, match="default_batch must be a whole number"):
            ModelRegistry([replace(SPECS[0], name="other", aliases=(), default_batch=bad)])
    for good in (3, np.int64(3)):
        assert ModelRegistry([replace(SPECS[0], name="other", aliases=(), default_batch=good)]).get("other").default_batch == 3


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
