"""`fanzoo weights list|fetch|import|path`: the local weights cache."""
from __future__ import annotations

from pathlib import Path

import click

from ..plugins import get_model, plugins
from ..weights.store import local_weights, sha256_file, weights_dir
from . import cli
from .common import emit_json, json_option, table


@cli.group()
def weights() -> None:
    """Fetch, import and list model weights (cache: $FANZOO_HOME, default ~/.cache/fanzoo)."""


@weights.command("list")
@json_option()
def list_weights(json_out: str | None) -> None:
    """Where each model's weights are, and where they can come from."""
    rows = []
    for spec in plugins().models:
        path = local_weights(spec)
        rows.append({"model": spec.name, "path": str(path) if path else None,
                     "sources": [s.url for s in spec.weights]})
    if json_out:
        emit_json(rows, json_out)
        return
    click.echo(f"cache: {weights_dir()}")
    click.echo(table([[r["model"], r["path"] or "-", str(len(r["sources"]))] for r in rows],
                     ["model", "local weights", "official sources"]))


@weights.command()
@click.argument("model")
@click.option("--source", "fmt", type=click.Choice(["nnabla-h5", "torch"]), default=None,
              help="Which official file to download (default: the first the registry lists that can be verified).")
@click.option("--sha256", "expected", default=None, help="Expected sha256, for a source without a published hash.")
@click.option("--url", default=None, help="Download from this mirror instead; the same hash checks apply.")
def fetch(model: str, fmt: str | None, expected: str | None, url: str | None) -> None:
    """Download official weights, verify their hash, and import them into the cache."""
    from ..weights.download import fetch as do_fetch

    spec = get_model(model)
    if fmt is None and expected is None:
        # prefer a source whose hash is published, so the download can be verified without --sha256
        verifiable = [s for s in spec.weights if s.sha256 or s.sha256_prefix]
        fmt = verifiable[0].format if verifiable else None
    path = do_fetch(spec, fmt, expected, url=url)
    click.echo(f"{spec.name}: weights verified and saved to {path}")


@weights.command("import")
@click.argument("model")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def import_(model: str, path: Path) -> None:
    """Import an NNabla .h5 (official layout) or an authors' PyTorch checkpoint, checked name by name."""
    from ..weights.importer import import_weights

    spec = get_model(model)
    target = import_weights(spec, path)
    click.echo(f"{spec.name}: imported {path} -> {target} (sha256 {sha256_file(target)[:12]})")
