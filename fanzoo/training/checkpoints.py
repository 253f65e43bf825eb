"""A run folder's checkpoint: parameters, Adam's state and the run state, replaced as a whole on every save.

checkpoint/ holds params.h5 (BatchNorm statistics included), solver.h5 and state.json (iteration, best
validation NME, training time, process count, the recipe and the RNG scheme). The recipe stored there is
the run's: a resume reuses it unless told otherwise.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..atomic import atomic_dir
from ..errors import InputError
from ..jsonparse import parse_json_object
from .config import TrainConfig

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"


def checkpoint_dir(out_dir: Path) -> Path:
    return Path(out_dir) / CHECKPOINT


def write_checkpoint(out_dir: Path, scope: dict, solver: Any, state: dict[str, Any]) -> None:
    """Write parameters (of ``scope``), solver state and ``state``; an interrupt leaves the previous one intact."""
    import nnabla as nn

    with atomic_dir(checkpoint_dir(out_dir)) as tmp:
        with nn.parameter_scope("", scope):
            nn.save_parameters(str(tmp / "params.h5"))
        solver.save_states(str(tmp / "solver.h5"))
        (tmp / "state.json").write_text(json.dumps(state, indent=2, default=list))


def read_state(out_dir: Path) -> dict[str, Any] | None:
    path = checkpoint_dir(out_dir) / "state.json"
    if not path.is_file():
        return None
    try:
        return parse_json_object(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is one too
        raise InputError(f"{path} is damaged ({exc}); resume from another copy of the run or start a new one") from None


def read_checkpoint(out_dir: Path, scope: dict, solver: Any) -> dict[str, Any] | None:
    """Load parameters into ``scope`` and the solver's state; returns state.json, or None without a checkpoint."""
    import nnabla as nn

    state = read_state(out_dir)
    if state is None:
        return None
    folder = checkpoint_dir(out_dir)
    with nn.parameter_scope("", scope):
        nn.load_parameters(str(folder / "params.h5"))
    solver.load_states(str(folder / "solver.h5"))
    return state


def stored_config(out_dir: Path) -> TrainConfig | None:
    """The recipe a run folder was trained with, or None if it has no checkpoint."""
    state = read_state(out_dir)
    return None if state is None else TrainConfig.from_dict(state["config"])


def run_config(config: TrainConfig, out_dir: Path, resume: bool, keep_recipe: bool) -> TrainConfig:
    """The recipe to go on with. With ``keep_recipe`` the one a run folder was started with wins on
    resume: a change of defaults in the code must not silently change a half-trained run."""
    stored = stored_config(out_dir) if resume else None
    if stored is None or stored == config:
        return config
    changes = {k: v[1] for k, v in stored.differences(config).items()}
    if keep_recipe:
        log.warning("resuming with the run's own recipe; ignoring %s", changes)
        return stored
    log.warning("resuming with a changed recipe: %s", changes)
    return config
