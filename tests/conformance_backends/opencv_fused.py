"""OpenCV DNN with its default layer fusion: the batch-change bug on ResNetDepth."""
from fanzoo.hookspecs import hookimpl

from .opencv_dnn import OpenCvDnnBackend


@hookimpl
def register_backends(register) -> None:
    register(OpenCvDnnBackend("opencv-fused", fusion=True))
