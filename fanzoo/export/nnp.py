"""Save a built NNabla graph as NNP with a variable batch size (imports nnabla)."""
from __future__ import annotations

from pathlib import Path

from ..graph import Network


def save_nnp(net: Network, path: Path) -> None:
    """Test-mode graph (BatchNorm on running statistics), batch axis stored as -1.

    Without variable_batch_size an NNP reloaded at another batch size silently keeps batch 1.
    """
    import nnabla as nn
    from nnabla.utils.save import save

    spec = net.spec
    name = spec.name.replace("-", "_")
    contents = {
        "networks": [{"name": name, "batch_size": net.x.shape[0],
                      "outputs": {spec.outputs[0].name: net.y}, "names": {spec.inputs[0].name: net.x}}],
        "executors": [{"name": "runtime", "network": name, "data": [spec.inputs[0].name],
                       "output": [spec.outputs[0].name]}],
    }
    with nn.parameter_scope("", net.scope):
        save(str(path), contents, variable_batch_size=True)
