"""Scale-out: align millions of images on a Ray cluster (optional extra ``fanzoo[ray]``).

Ray is imported only when a job runs, so ``import fanzoo.scale`` works without it. See
:func:`fanzoo.scale.engine.align_on_ray` and ``fanzoo predict --engine ray``.
"""
from __future__ import annotations

from .job import AlignJob

__all__ = ["AlignJob"]
