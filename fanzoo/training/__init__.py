"""Training FAN variants in NNabla on iBUG-annotated faces (300-W), resumable from checkpoints.

    python -m fanzoo.training --help      # or `fanzoo train`
"""
from .config import TrainConfig
from .loop import train

__all__ = ["TrainConfig", "train"]
