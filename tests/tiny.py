"""A toy-width FAN registered for tests, matching tools/make_fixtures.py's tiny authors' checkpoint."""
from __future__ import annotations

from dataclasses import replace

from fanzoo.builtin_models import crop_input, heatmaps_output
from fanzoo.hookspecs import hookimpl
from fanzoo.plugins import Plugins, make_plugin_manager
from fanzoo.registry import ModelSpec, Preprocessing, WeightsSource, WeightTag

TINY_CONFIG = {"num_stacks": 1, "width": 16, "stem": (8, 16), "depth": 2}


def tiny_spec(**changes: object) -> ModelSpec:
    spec = ModelSpec(
        name="tinyfan", task="landmarks", builder="fanzoo.models.fan:fan", config=TINY_CONFIG,
        inputs=(crop_input(64),), outputs=(heatmaps_output(16),), preprocessing=Preprocessing(input_size=64),
        description="toy FAN for tests", params=1, gmacs=0.001, paper="test",
        graph="tests:fixtures/graphs/tinyfan",  # made by tools/make_graphs.py --tests
    )
    return replace(spec, **changes)


def tiny_3d_spec() -> ModelSpec:
    """A toy "3D" model whose depth network is tinyfan: enough to test what needs two networks' weights."""
    return tiny_spec(name="tiny3d", depth_model="tinyfan", graph="tests:fixtures/graphs/tiny3d")


def tiny_tag(*sources: WeightsSource, model: str = "tinyfan", **changes: object) -> WeightTag:
    """``<model>.official`` (tinyfan's by default), the default tag, downloadable from ``sources``."""
    values: dict = {"license": "test weights", "default": True,
                    "sources": sources or (WeightsSource("http://127.0.0.1:9/tiny_fan-0000000000.pth.tar", "torch",
                                                         sha256_prefix="0" * 10),)}
    values.update(changes)
    return WeightTag(model, "official", **values)


class TinyPlugin:
    def __init__(self, *items: ModelSpec | WeightTag) -> None:
        self.items = items

    @hookimpl
    def register_models(self, register) -> None:
        for item in self.items:
            register(item)


def plugins_with(spec: ModelSpec, *tags: WeightTag) -> Plugins:
    return Plugins.collect(make_plugin_manager(extra=(TinyPlugin(spec, *(tags or (tiny_tag(),))),)))
