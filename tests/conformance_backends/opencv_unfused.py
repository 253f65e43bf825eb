"""OpenCV DNN with layer fusion off: a correct backend."""
from fanzoo.hookspecs import hookimpl

from .opencv_dnn import OpenCvDnnBackend


@hookimpl
def register_backends(register) -> None:
    register(OpenCvDnnBackend("opencv-unfused", fusion=False))
