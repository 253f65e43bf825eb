"""The `fanzoo` command: one click group; FanzooErrors become one line on stderr and an exit code."""
from __future__ import annotations

import importlib
import logging
import os

import click

from .. import __version__
from ..errors import FanzooError


def configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:  # nnabla logs every extension initialisation at INFO
        logging.getLogger("nnabla").setLevel(logging.WARNING)


# subcommand -> the module that defines it, imported only when that command runs (or for --help): `fanzoo
# predict` need not import what training, export or evaluation need
COMMAND_MODULES = {"models": "info", "backends": "info", "weights": "weights", "export": "export",
                   "predict": "predict", "evaluate": "evaluate", "train": "train"}


class FanzooGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(f"{__name__}.{COMMAND_MODULES[name]}")
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FanzooError as exc:
            click.secho(f"error: {exc}", fg="red", err=True, color=None if not os.environ.get("NO_COLOR") else False)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=FanzooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fanzoo")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """FAN face alignment: 68 landmarks in 2D and 3D, run through interchangeable backends."""
    configure_logging(verbose)


def main() -> None:
    cli(prog_name="fanzoo")


# the subcommands register themselves on the group; their heavy imports happen inside each command
from . import evaluate, export, info, predict, train, weights  # noqa: E402, F401
