"""Plugin hook specifications (pluggy). Built-in models, backends and detectors use these same hooks.

Every hook is documented, with a runnable example, in docs/plugins.md (a test checks both).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

PROJECT = "fanzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Callable[..., None]) -> None:
    """Register architectures and weights: call ``register(spec)`` with a :class:`fanzoo.registry.ModelSpec`
    for each architecture and ``register(tag)`` with a :class:`fanzoo.registry.WeightTag` for each set of
    weights (also for another plugin's architecture).

    Must not import heavy runtimes or do I/O: a spec is data, its graph builder is a lazy ``"module:function"``.
    """


@hookspec
def register_backends(register: Callable[..., None]) -> None:
    """Register inference backends: call ``register(backend)`` with an object that follows
    :class:`fanzoo.backend.Backend`. The runtime itself must be imported only when a session is loaded."""


@hookspec
def register_detectors(register: Callable[..., None]) -> None:
    """Register face detectors: call ``register(name, factory, description)``, where ``factory(**options)``
    returns an object that follows :class:`fanzoo.detection.FaceDetector`. Pass ``runs_on_backend=True`` when
    the factory also takes ``backend``, ``device`` and ``threads``: the predictor's are then given to it.
    The detector's ``framing`` attribute, when it has one, names how its boxes frame a face
    (:mod:`fanzoo.detection.framing`)."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``fanzoo`` command: decorate functions with ``@cli.command()``.

    A command whose name is taken (by fanzoo or another plugin) is not added; the clash is reported.
    """
