"""``devices()`` returns plain names instead of ``DeviceStatus`` objects."""
from fanzoo.hookspecs import hookimpl

from .opencv_dnn import OpenCvDnnBackend


class PlainDevices(OpenCvDnnBackend):
    def devices(self):  # type: ignore[override]
        return ["cpu"]


@hookimpl
def register_backends(register) -> None:
    register(PlainDevices("plain-devices", fusion=False))
