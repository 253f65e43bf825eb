"""`fanzoo models`, `fanzoo backends`, `fanzoo detectors` and `fanzoo plugins`: what is installed, registered and
can run here."""
from __future__ import annotations

import os

import click

from ..backend import DeviceStatus
from ..plugin_records import one_line
from ..plugins import LOAD_ENV, plugins
from ..precision import backend_precisions
from ..weights.store import local_weights
from . import cli
from .common import emit_json, json_option, table


def tag_row(tag) -> dict:
    weights = local_weights(tag)
    return {"name": tag.name, "tag": tag.tag, "default": tag.default, "license": tag.license,
            "subpixel": tag.subpixel, "weights": str(weights) if weights else None,
            "sources": [s.url for s in tag.sources], "metrics": dict(tag.metrics), "user": tag.user}


@cli.command()
@json_option()
def models(json_out: str | None) -> None:
    """List architectures with size, cost, where they run, and their weight tags (* the default) with licences."""
    from ..weights.tags import all_tags

    rows = []
    for spec in plugins().models:
        rows.append({"name": spec.name, "aliases": list(spec.aliases), "task": spec.task,
                     "params_m": round(spec.params / 1e6, 2), "gflops": round(spec.gflops, 2),
                     "depth_model": spec.depth_model, "default_backend": spec.default_backend,
                     "default_precision": spec.default_precision,
                     "default_batch": spec.default_batch if spec.task == "landmarks" else None,
                     "description": spec.description,
                     "code_license": spec.license, "tags": [tag_row(t) for t in all_tags(spec)]})
    if json_out:
        emit_json(rows, json_out)
        return

    def runs_on(r: dict) -> str:
        # a depth network runs on the batches of the landmark model that uses it
        batch = f", batch {r['default_batch']}" if r["default_batch"] else ""
        return f"{r['default_backend']} {r['default_precision']}{batch}"

    def tags(r: dict) -> str:
        return ", ".join(("*" if t["default"] else "") + t["tag"] + ("" if t["weights"] else " (not here)")
                         for t in r["tags"])

    click.echo(table([[r["name"], ", ".join(r["aliases"]), f"{r['params_m']:.2f}", f"{r['gflops']:.1f}", tags(r),
                       runs_on(r), r["description"]]
                      for r in rows],
                     ["model", "aliases", "params (M)", "GFLOPs", "weight tags (* default)", "runs on", "description"]))
    click.echo("\nLicences: fanzoo's code is BSD-3-Clause; each set of weights has its own:")
    for r in rows:
        for t in r["tags"]:
            if not t["user"]:
                click.echo(f"  {t['name']}: {t['license']}")
    click.echo("Use MODEL.TAG (e.g. 2dfan4.official) for a tag; a bare MODEL means its default (*).")


def backend_row(backend) -> dict:
    """One backend's listing; a plugin whose version() or devices() misbehaves gets an error, not a crash."""
    row = {"name": backend.name, "version": None, "format": backend.artifact_format, "devices": {},
           "precisions": list(backend_precisions(backend)), "description": backend.description, "error": None}
    try:
        row["version"] = backend.version()
        devices = list(backend.devices())
        wrong = [d for d in devices if not isinstance(d, DeviceStatus)]
        if wrong:
            raise TypeError(f"devices() must return fanzoo.backend.DeviceStatus objects, got {type(wrong[0]).__name__}")
        row["devices"] = {d.device: {"available": d.available, "reason": d.reason} for d in devices}
    except Exception as exc:  # a third-party plugin's bug must not hide the other backends
        row["error"] = one_line(exc)
    return row


@cli.command()
@json_option()
def backends(json_out: str | None) -> None:
    """List backend plugins with versions, formats and devices."""
    rows = [backend_row(b) for b in plugins().backends.values()]
    if json_out:
        emit_json(rows, json_out)
        return
    if not rows:
        limited = f" ({LOAD_ENV} is set)" if LOAD_ENV in os.environ else ""
        click.echo(f"no backends installed{limited}: pip install fanzoo-onnxruntime (or fanzoo-nnabla, fanzoo-openvino)")
        return

    def devices(r: dict) -> str:
        if r["error"]:
            return "error"
        return ", ".join(f"{d}{'' if s['available'] else ' (unavailable)'}" for d, s in r["devices"].items())

    click.echo(table([[r["name"], r["version"] or "not installed", r["format"], ", ".join(r["precisions"]), devices(r),
                       r["description"]] for r in rows],
                     ["backend", "version", "format", "precisions", "devices", "description"]))
    for r in rows:
        if r["error"]:
            click.echo(f"  {r['name']}: {r['error']}")
        for device, s in r["devices"].items():
            if not s["available"]:
                click.echo(f"  {r['name']} {device}: {s['reason']}")


@cli.command()
@json_option()
def detectors(json_out: str | None) -> None:
    """List face detectors (the default first) with what they need."""
    from ..api import DEFAULT_DETECTOR

    entries = sorted(plugins().detectors.values(), key=lambda e: (e.name != DEFAULT_DETECTOR, e.name))
    rows = [{"name": e.name, "default": e.name == DEFAULT_DETECTOR, "runs_on_backend": e.runs_on_backend,
             "description": e.description} for e in entries]
    if json_out:
        emit_json(rows, json_out)
        return
    click.echo(table([[r["name"] + (" (default)" if r["default"] else ""), r["description"]] for r in rows],
                     ["detector", "description"]))


@cli.command("plugins")
@click.option("--all", "show_all", is_flag=True, help="Include fanzoo's built-in plugins.")
@json_option()
def list_plugins(show_all: bool, json_out: str | None) -> None:
    """List installed plugins: distribution, version, hooks, what they register, and their status."""
    found = plugins(warn=False)
    records = [r for r in found.records if show_all or not r.builtin]
    if json_out:
        emit_json({"plugins": [r.to_dict() for r in records], "notes": found.manager.notes}, json_out)
        return
    if not records:
        click.echo("no plugins installed: pip install fanzoo-onnxruntime (or see docs/plugins.md)")
    else:
        click.echo(table([[r.label, r.version or "-", ", ".join(r.hooks) or "-",
                           "; ".join(f"{k} {', '.join(v)}" for k, v in r.provides.items()) or "-", r.status]
                          for r in records], ["plugin", "version", "hooks", "provides", "status"]))
    for r in records:
        for problem in r.problems:
            click.echo(f"{r.label}: {problem}")
    for note in found.manager.notes:
        click.echo(note)
    if LOAD_ENV in os.environ:
        click.echo(f"({LOAD_ENV} limits which plugins load)")
