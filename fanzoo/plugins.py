"""Plugin manager: loads each entry point of group "fanzoo" on its own and collects what the plugins register.

A plugin that fails to import or to register, or whose names collide with another's, is left out and
reported in one line (package and reason); the other plugins, and every command that does not need it,
work. Collisions: built-ins win; then the plugin named like the thing (entry point ``x`` for backend ``x``);
otherwise neither is used, and asking for the name is an error that names both packages.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs, installed
from .errors import UnknownBackendError, UnknownModelError
from .installed import canonical
from .plugin_records import PluginRecord, one_line, settle_claims
from .registry import ModelRegistry, ModelSpec, WeightTag

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "fanzoo"
# comma-separated distribution names of the entry-point plugins to load; "" loads none (built-ins always load)
LOAD_ENV = "FANZOO_LOAD_PLUGINS"
# modules inside fanzoo that register built-ins through the same hooks as third-party plugins
BUILTIN_PLUGINS = ("fanzoo.builtin_models", "fanzoo.detection.builtin")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus one :class:`PluginRecord` per plugin, in load order (built-ins first)."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []
        self.notes: list[str] = []  # problems that belong to no plugin (an unknown name in LOAD_ENV)

    def add(self, plugin: Any, record: PluginRecord) -> None:
        self.records.append(record)
        try:
            self.register(plugin, name=record.name)
        except Exception as exc:  # pluggy's PluginValidationError (bad hook signature), ValueError (twice)
            record.problem(f"cannot register: {one_line(exc)}", failed=True)
            return
        record.plugin = plugin
        callers = self.get_hookcallers(plugin) or []
        record.hooks = sorted(caller.name for caller in callers)
        for caller in callers:
            if caller.spec is None:
                record.problem(f"implements {caller.name}, which is not a fanzoo hook (see docs/plugins.md)")

    def load_entry_points(self) -> None:
        allowed = os.environ.get(LOAD_ENV)
        wanted = None if allowed is None else {canonical(n.strip()) for n in allowed.split(",") if n.strip()}
        seen: set[tuple[str, str]] = set()
        found: set[str] = set()
        points = installed.entry_points(ENTRY_POINT_GROUP)
        for point in sorted(points, key=lambda p: (p.distribution or "", p.name)):
            dist = point.distribution
            if (dist or "", point.name) in seen:  # the same distribution found twice on sys.path
                continue
            seen.add((dist or "", point.name))
            record = PluginRecord(point.name, dist, point.version)
            found.add(canonical(dist or point.name))
            if wanted is not None and canonical(dist or point.name) not in wanted:
                record.status = "skipped"
                record.problems.append(f"not loaded: not named in {LOAD_ENV}")
                self.records.append(record)
                continue
            try:
                plugin = point.load()
            except Exception as exc:  # any failure of a third-party import must stay that plugin's problem
                record.problem(f"cannot import {point.value}: {one_line(exc)}", failed=True)
                self.records.append(record)
                continue
            self.add(plugin, record)
        for name in sorted((wanted or set()) - found):
            self.notes.append(f"{LOAD_ENV} names {name}, which is not an installed fanzoo plugin")


def make_plugin_manager(load_entry_points: bool = True, extra: tuple[Any, ...] = ()) -> PluginManager:
    """Built-ins, then (unless told not to) installed entry points, then ``extra`` plugin objects or modules."""
    pm = PluginManager()
    for name in BUILTIN_PLUGINS:
        pm.add(importlib.import_module(name), PluginRecord(name, builtin=True))
    if load_entry_points:
        pm.load_entry_points()
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__module__}.{type(plugin).__name__}"
        pm.add(plugin, PluginRecord(name))
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
    """What the plugins registered (models, backends, detectors), what was left out, and why."""

    manager: PluginManager
    models: ModelRegistry = field(default_factory=ModelRegistry)
    backends: dict[str, Any] = field(default_factory=dict)
    detectors: dict[str, DetectorEntry] = field(default_factory=dict)
    # (kind, name) -> labels of the plugins that all claimed it; none of them got it
    conflicts: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # (kind, name) -> the object left out, why, and its plugin (the conformance suite inspects rejected backends)
    rejected: dict[tuple[str, str], tuple[Any, str, PluginRecord]] = field(default_factory=dict)
    warned: bool = False
    _tags: list[tuple[PluginRecord, WeightTag]] = field(default_factory=list, repr=False)

    @classmethod
    def collect(cls, pm: PluginManager) -> Plugins:
        from .registration import collect_registrations

        self = cls(pm)
        claims = collect_registrations(pm, self.rejected)
        for kind, kind_claims in claims.items():
            for claim in settle_claims(kind, kind_claims, self.conflicts):
                self._add(kind, claim.record, claim.item)
        for record, tag in self._tags:  # after every architecture: a plugin may add weights to another's
            self._add_tag(record, tag)
        self._tags.clear()
        return self

    def _add(self, kind: str, record: PluginRecord, item: Any) -> None:
        if isinstance(item, WeightTag):
            self._tags.append((record, item))
            return
        if kind == "model":
            try:
                self.models.register(item)
            except ValueError as exc:  # a name that is not lowercase
                record.problem(f"model {item.name!r} left out: {exc}")
                return
            name = item.name
        elif kind == "backend":
            name = item.name
            self.backends[name] = item
        else:
            name = item.name
            self.detectors[name] = item
        record.provides.setdefault(kind + "s", []).append(name)

    def _add_tag(self, record: PluginRecord, tag: WeightTag) -> None:
        if tag.model not in self.models or self.models.resolve(tag.model) != tag.model:
            record.problem(f"weight tag {tag.name!r} left out: {tag.model!r} is not a registered architecture")
            return
        try:
            self.models.register(tag)
        except ValueError as exc:  # a bad tag name, or a second default for the architecture
            record.problem(f"weight tag {tag.name!r} left out: {exc}")
            return
        record.provides.setdefault("weights", []).append(tag.name)

    @property
    def records(self) -> list[PluginRecord]:
        return self.manager.records

    def problems(self) -> list[str]:
        """One line per problem: the package, then the reason."""
        lines = [f"{r.label}: {p}" for r in self.records if r.status != "skipped" for p in r.problems]
        return lines + self.manager.notes

    def warn_problems(self) -> None:
        """Log every problem as a warning, once per process."""
        if not self.warned:
            self.warned = True
            for line in self.problems():
                log.warning("plugin %s", line)

    def _conflict(self, kind: str, name: str) -> str | None:
        owners = self.conflicts.get((kind, name))
        if not owners:
            return None
        return (f"{kind} {name!r} is registered by both {' and '.join(owners)}, so neither is used; uninstall one, "
                f"or load one with {LOAD_ENV}={owners[0]}")

    def backend(self, name: str) -> Any:
        try:
            return self.backends[name]
        except KeyError:
            reason = self._conflict("backend", name)
            if reason is None and ("backend", name) in self.rejected:
                reason = f"backend {name!r} was left out: {self.rejected['backend', name][1]}"
            known = ", ".join(sorted(self.backends)) or "none installed"
            raise UnknownBackendError(reason or (
                f"unknown backend {name!r}; installed backends: {known} "
                f"(backends are separate packages, e.g. pip install fanzoo-{name})")) from None

    def detector(self, name: str) -> DetectorEntry:
        try:
            return self.detectors[name]
        except KeyError:
            known = ", ".join(sorted(self.detectors))
            raise UnknownBackendError(self._conflict("detector", name)
                                      or f"unknown face detector {name!r}; known detectors: {known}") from None

    def model(self, name: str) -> ModelSpec:
        reason = self._conflict("model", name.lower())
        if reason is not None and name not in self.models:
            raise UnknownModelError(reason)
        return self.models.get(name)

    def add_commands(self, group: Any) -> None:
        """Let every plugin's ``register_commands`` add subcommands to ``group`` (the ``fanzoo`` command)."""
        from .registration import collect_commands

        collect_commands(self, group)

    def provider(self, kind: str, name: str) -> PluginRecord | None:
        """The plugin that registered (or tried to register) ``name`` as a ``kind`` ("backend", "model", ...)."""
        if (kind, name) in self.rejected:
            return self.rejected[kind, name][2]
        return next((r for r in self.records if name in r.provides.get(kind + "s", [])), None)


_current: Plugins | None = None


def plugins(warn: bool = True) -> Plugins:
    """The process-wide plugins, discovered once on first use; problems are logged as warnings then
    (``warn=False`` leaves that to the caller: the CLI warns only after parsing its arguments)."""
    global _current
    if _current is None:
        _current = Plugins.collect(make_plugin_manager())
    if warn:
        _current.warn_problems()
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
    return plugins().model(name)
