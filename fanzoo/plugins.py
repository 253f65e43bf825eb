"""Plugin manager: discovers entry points in group "fanzoo" and collects what their hooks register."""
from __future__ import annotations

import contextlib
import importlib.metadata
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import UnknownBackendError
from .registry import ModelRegistry, ModelSpec, WeightTag

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "fanzoo"
# modules inside fanzoo that register built-ins through the same hooks as third-party plugins
BUILTIN_PLUGINS = ("fanzoo.builtin_models", "fanzoo.detection.builtin")


def make_plugin_manager(load_entry_points: bool = True, extra: tuple[Any, ...] = ()) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin)
    return pm


@dataclass(frozen=True)
class DetectorEntry:
    name: str
    factory: Callable[..., Any]
    description: str
    # True when the factory takes backend=, device= and threads= (a network run by a backend plugin)
    runs_on_backend: bool = False


@dataclass
class Plugins:
    """What the plugins registered: models, backends and detectors."""

    manager: pluggy.PluginManager
    models: ModelRegistry = field(default_factory=ModelRegistry)
    backends: dict[str, Any] = field(default_factory=dict)
    detectors: dict[str, DetectorEntry] = field(default_factory=dict)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> Plugins:
        self = cls(pm)

        def add_model(item: ModelSpec | WeightTag) -> None:
            self.models.register(item)

        def add_backend(backend: Any) -> None:
            if backend.name in self.backends:
                raise ValueError(f"backend {backend.name!r} is registered twice")
            self.backends[backend.name] = backend

        def add_detector(name: str, factory: Callable[..., Any], description: str = "",
                         runs_on_backend: bool = False) -> None:
            if name in self.detectors:
                raise ValueError(f"detector {name!r} is registered twice")
            self.detectors[name] = DetectorEntry(name, factory, description, runs_on_backend)

        pm.hook.register_models(register=add_model)
        pm.hook.register_backends(register=add_backend)
        pm.hook.register_detectors(register=add_detector)
        self.models.check()
        return self

    def backend(self, name: str) -> Any:
        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none installed"
            raise UnknownBackendError(
                f"unknown backend {name!r}; installed backends: {known} "
                f"(backends are separate packages, e.g. pip install fanzoo-{name})") from None

    def detector(self, name: str) -> DetectorEntry:
        try:
            return self.detectors[name]
        except KeyError:
            known = ", ".join(sorted(self.detectors))
            raise UnknownBackendError(f"unknown face detector {name!r}; known detectors: {known}") from None

    def plugin_versions(self) -> dict[str, str]:
        """Distribution name -> version for every plugin loaded from an entry point."""
        return {dist.metadata["name"]: dist.version for _, dist in self.manager.list_plugin_distinfo()}


_current: Plugins | None = None


def plugins() -> Plugins:
    """The process-wide plugins, discovered once on first use."""
    global _current
    if _current is None:
        _current = Plugins.collect(make_plugin_manager())
    return _current


@contextlib.contextmanager
def use_plugins(replacement: Plugins) -> Iterator[Plugins]:
    """Swap in another set of plugins (tests use a fresh manager instead of mutating the global one)."""
    global _current
    previous, _current = _current, replacement
    try:
        yield replacement
    finally:
        _current = previous


def registry() -> ModelRegistry:
    return plugins().models


def get_model(name: str) -> ModelSpec:
    return plugins().models.get(name)


def entry_point_names() -> list[str]:
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
