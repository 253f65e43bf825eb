"""Runs each plugin's hooks on its own and checks what it registers, so a bad plugin costs only itself."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .backend import contract_problems
from .errors import FanzooError
from .plugin_records import Claim, PluginRecord, one_line, settle_claims
from .registry import ModelSpec, WeightTag

if TYPE_CHECKING:
    import click

    from .plugins import PluginManager, Plugins

HOOK_KINDS = {"register_models": "model", "register_backends": "backend", "register_detectors": "detector"}
Rejected = dict[tuple[str, str], tuple[Any, str, PluginRecord]]  # (kind, name) -> (object, why, its plugin)


def _impls(pm: PluginManager, hook: str, record: PluginRecord) -> list[Any]:
    return [impl for impl in getattr(pm.hook, hook).get_hookimpls() if impl.plugin is record.plugin]


def _call(impl: Any, **available: Any) -> None:
    impl.function(**{name: available[name] for name in impl.argnames})


def _registrar(kind: str, record: PluginRecord, claims: list[Claim], rejected: Rejected) -> Callable[..., None]:
    from .plugins import DetectorEntry

    def model(item: ModelSpec | WeightTag) -> None:
        if isinstance(item, WeightTag):  # weights for an architecture: its own name (model.tag) is the claim
            claims.append(Claim(record, (item.name,), item))
            return
        if not isinstance(item, ModelSpec):
            record.problem(f"register_models: expected a fanzoo.registry.ModelSpec or WeightTag, "
                           f"got {type(item).__name__}")
            return
        claims.append(Claim(record, (item.name, *item.aliases), item))

    def backend(backend: Any) -> None:
        name = getattr(backend, "name", None)
        label = name if isinstance(name, str) and name else type(backend).__name__
        problems = contract_problems(backend)
        if problems:
            rejected[("backend", label)] = (backend, "; ".join(problems), record)
            record.problem(f"backend {label!r} left out: {'; '.join(problems)}")
            return
        claims.append(Claim(record, (name,), backend))

    def detector(name: str, factory: Callable[..., Any], description: str = "", runs_on_backend: bool = False) -> None:
        if not isinstance(name, str) or not name or not callable(factory) or not isinstance(description, str):
            record.problem(f"register_detectors: register(name, factory, description) got {name!r}, {factory!r}")
            return
        claims.append(Claim(record, (name,), DetectorEntry(name, factory, description, bool(runs_on_backend))))

    return {"model": model, "backend": backend, "detector": detector}[kind]


def collect_registrations(pm: PluginManager, rejected: Rejected) -> dict[str, list[Claim]]:
    """Every plugin's models, backends and detectors, as claims; a plugin whose hook raises contributes none."""
    claims: dict[str, list[Claim]] = {kind: [] for kind in HOOK_KINDS.values()}
    for record in pm.records:
        if record.plugin is None:
            continue
        mine: dict[str, list[Claim]] = {kind: [] for kind in claims}
        hook = ""
        try:
            for hook, kind in HOOK_KINDS.items():
                for impl in _impls(pm, hook, record):
                    _call(impl, register=_registrar(kind, record, mine[kind], rejected))
        except Exception as exc:  # a third-party hook may raise anything: it is that plugin's problem only
            record.problem(f"{hook} raised {one_line(exc)}; nothing it registers is used", failed=True)
            continue
        for kind, found in mine.items():
            claims[kind].extend(found)
    return claims


def _ambiguous(name: str, reason: str) -> click.Command:
    import click

    def fail() -> None:
        raise FanzooError(reason)

    return click.Command(name, callback=fail, help=f"(unavailable: {reason})", add_help_option=False)


def collect_commands(plugins: Plugins, group: click.Group) -> None:
    """Add the plugins' commands to ``group``; fanzoo's own commands win any clash."""
    import click

    claims: list[Claim] = []
    # every built-in name, the lazily imported ones too (they join group.commands only when they run)
    builtins = set(group.list_commands(click.Context(group)))
    for record in plugins.records:
        if record.plugin is None:
            continue
        for impl in _impls(plugins.manager, "register_commands", record):
            staging = click.Group(group.name)
            try:
                _call(impl, cli=staging)
            except Exception as exc:  # as above: contained to the plugin
                record.problem(f"register_commands raised {one_line(exc)}; its commands are left out")
                continue
            for name, command in staging.commands.items():
                if name in builtins:
                    record.problem(f"command {name!r} is a fanzoo command (built-ins win); left out")
                else:
                    claims.append(Claim(record, (name,), command))
    for claim in settle_claims("command", claims, plugins.conflicts):
        group.add_command(claim.item, claim.names[0])
        claim.record.provides.setdefault("commands", []).append(claim.names[0])
    for (kind, name), owners in plugins.conflicts.items():
        if kind == "command" and name not in group.commands:
            group.add_command(_ambiguous(name, f"command {name!r} is provided by both {' and '.join(owners)}; "
                                               "uninstall one, or load one with FANZOO_LOAD_PLUGINS"))
