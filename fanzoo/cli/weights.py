"""`fanzoo weights list|fetch|import`: the local weights cache, one entry per weight tag."""
from __future__ import annotations

from pathlib import Path

import click

from ..decoding import SUBPIXEL_RULES
from ..plugins import plugins
from ..weights.store import local_weights, weights_dir
from . import cli
from .common import emit_json, json_option, table


@cli.group()
def weights() -> None:
    """Fetch, import and list model weights (cache: $FANZOO_HOME, default ~/.cache/fanzoo)."""


@weights.command("list")
@json_option()
def list_weights(json_out: str | None) -> None:
    """Every weight tag: where its weights are, its licence, and where it can come from."""
    from ..weights.tags import all_tags

    rows = []
    for spec in plugins().models:
        for tag in all_tags(spec):
            path = local_weights(tag)
            rows.append({"name": tag.name, "default": tag.default, "path": str(path) if path else None,
                         "license": tag.license, "sources": [s.url for s in tag.sources]})
    if json_out:
        emit_json(rows, json_out)
        return
    click.echo(f"cache: {weights_dir()}")
    click.echo(table([[r["name"] + (" *" if r["default"] else ""), r["path"] or "-", str(len(r["sources"])),
                       r["license"]] for r in rows],
                     ["weights (* default)", "local file", "sources", "licence"]))


@weights.command()
@click.argument("model")
@click.option("--source", "fmt", type=click.Choice(["nnabla-h5", "torch"]), default=None,
              help="Which file to download (default: the first whose hash is published).")
@click.option("--sha256", "expected", default=None, help="Expected sha256, for a source without a published hash.")
@click.option("--url", default=None, help="Download from this mirror instead; the same hash checks apply.")
def fetch(model: str, fmt: str | None, expected: str | None, url: str | None) -> None:
    """Download MODEL's weights (a tag, e.g. 2dfan4.official), verify their hash, and import them.

    A 3D model's depth network is fetched too, from its own source (--sha256 and --url name MODEL's file).
    """
    from ..weights.download import fetch as do_fetch
    from ..weights.tags import depth_of, lookup

    tagged = lookup(model)
    depth = depth_of(tagged)
    if depth is not None:
        click.echo(f"{tagged.name} predicts z with {depth.name}: fetching both")
    for job, kwargs in [(tagged, {"fmt": fmt, "expected_sha256": expected, "url": url}),
                        *([(depth, {"fmt": fmt})] if depth is not None else [])]:
        done = do_fetch(job, **kwargs)
        click.echo(f"{done.model.name}: weights verified and saved to {done.path}")
        report_binding(done)


def report_binding(done) -> None:
    if done.artifact is not None:
        click.echo(f"  ONNX artifact: {done.artifact}")
    elif done.unbound:
        click.echo(f"  no ONNX artifact yet: {done.unbound}")


@weights.command("import")
@click.argument("model")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--tag", default=None,
              help="Tag for these weights (default: the published tag whose hash the file has, else 'local').")
@click.option("--subpixel", type=click.Choice(SUBPIXEL_RULES), default=None,
              help="Decoding rule of your weights (default: that of the model's default weights).")
@click.option("--license", "license_", default=None, help="Licence of your weights, shown by `fanzoo models`.")
def import_(model: str, path: Path, tag: str | None, subpixel: str | None, license_: str | None) -> None:
    """Import an NNabla .h5, an authors' PyTorch checkpoint or a parameter .npz, checked name by name.

    A file becomes a published tag (e.g. 2dfan4.official) only if its hash is that tag's; any other file
    is your own tag and never replaces published weights.
    """
    from ..errors import InputError
    from ..registry import split_name
    from ..weights.importer import import_file
    from ..weights.tags import depth_of, lookup

    _, named = split_name(model)
    if named and tag and named != tag:
        raise InputError(f"{model} names tag {named!r} but --tag says {tag!r}")
    spec = plugins().models.get(model)
    done = import_file(spec, path, named or tag, subpixel, license_)
    click.echo(f"{done.model.name}: imported {path} ({done.record.source_format}, sha256 "
               f"{done.record.source_sha256[:12]}) -> {done.path}")
    if done.replaced is not None:
        click.echo(f"  replaces the weights imported from {done.replaced.source} on {done.replaced.imported}")
    report_binding(done)
    default = lookup(spec.name)
    if done.model.weights.tag != default.weights.tag:
        click.echo(f"  use it with --model {done.model.name} (--model {spec.name} means {default.name})")
    depth = depth_of(done.model)
    if depth is not None and local_weights(depth.weights) is None:
        click.echo(f"  {done.model.name} also needs {depth.name}: `fanzoo weights import {depth.spec.name} FILE "
                   f"--tag {depth.weights.tag}`")
