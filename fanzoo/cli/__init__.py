"""The `fanzoo` command: one click group; FanzooErrors become one line on stderr and an exit code."""
from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

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
COMMAND_MODULES = {"models": "info", "backends": "info", "detectors": "info", "plugins": "info",
                   "weights": "weights", "export": "export", "predict": "predict", "evaluate": "evaluate",
                   "train": "train"}


def debugging(ctx: click.Context | None = None) -> bool:
    """--debug or FANZOO_DEBUG=1: show tracebacks (for bug reports) and the codecs' own warnings."""
    return os.environ.get("FANZOO_DEBUG", "") not in ("", "0") or bool(ctx and ctx.meta.get("fanzoo.debug"))


def os_error_line(exc: OSError) -> str:
    """An OSError in one line that names its file once (``str(exc)`` repeats it after the errno)."""
    where = f"{exc.filename}: " if exc.filename else ""
    other = f" -> {exc.filename2}" if getattr(exc, "filename2", None) else ""
    return f"{where}{exc.strerror or exc}{other}"


class FanzooGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(f"{__name__}.{COMMAND_MODULES[name]}")
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        """Failures a user or the environment causes end as one line and an exit code; with --debug (or
        FANZOO_DEBUG=1) the traceback comes first. Anything else is a bug and keeps its traceback."""
        try:
            return super().invoke(ctx)
        except FanzooError as exc:
            self._fail(ctx, str(exc), exc.exit_code)
        except OSError as exc:  # disk full, permission denied, a file vanished: the environment, not a bug
            self._fail(ctx, os_error_line(exc), 1)
        except MemoryError:
            self._fail(ctx, "not enough memory (try fewer or smaller images, or a smaller --batch-size)", 1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)

    @staticmethod
    def _fail(ctx: click.Context, message: str, code: int) -> None:
        if debugging(ctx):
            traceback.print_exc()
        click.secho(f"error: {message}", fg="red", err=True, color=None if not os.environ.get("NO_COLOR") else False)
        ctx.exit(code)


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["fanzoo.debug"] = True  # meta is shared with the subcommands' contexts
    return value


@click.group(cls=FanzooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fanzoo")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_debug,
              help="Show the traceback of a failure, for bug reports (also: FANZOO_DEBUG=1).")
def cli(verbose: int) -> None:
    """FAN face alignment: 68 landmarks in 2D and 3D, run through interchangeable backends."""
    configure_logging(verbose)
    if click.get_current_context().invoked_subcommand != "plugins":  # which reports them itself
        from ..plugins import plugins

        plugins().warn_problems()


def main() -> None:
    if not debugging() and "--debug" not in sys.argv[1:]:
        # OpenCV logs a warning and an error line of its own for each damaged file; fanzoo already says it in one
        os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    from ..plugins import plugins
    from .quick_exit import finish

    plugins(warn=False).add_commands(cli)  # a plugin's failure is reported once the command line is parsed
    try:
        cli(prog_name="fanzoo")  # click's standalone mode ends every run with SystemExit
    except SystemExit as done:
        finish(done.code)

