"""No ``description``: `fanzoo backends` used to crash on it and hide every other backend."""
from fanzoo.hookspecs import hookimpl

from .opencv_dnn import OpenCvDnnBackend


@hookimpl
def register_backends(register) -> None:
    register(OpenCvDnnBackend("no-description", fusion=False, description=None))
