"""Weights: the restricted checkpoint reader, import with name-by-name checks, downloads with hash checks."""
from __future__ import annotations

import hashlib
import http.server
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

from fanzoo.errors import ChecksumError, DownloadError, WeightsError
from fanzoo.plugins import use_plugins
from fanzoo.weights.h5params import read_h5_params, write_h5_params
from fanzoo.weights.names import nnabla_to_torch, torch_to_nnabla, unwrap_state_dict
from fanzoo.weights.torch_checkpoint import load_torch_checkpoint

from .conftest import FIXTURES, needs_nnabla
from .tiny import plugins_with, tiny_spec, tiny_tag

CHECKPOINTS = ["tiny_fan_zip.pth", "tiny_fan_legacy.pth.tar", "tiny_fan_wrapped_legacy.pth.tar"]


def tiny_state(name: str = CHECKPOINTS[0]) -> dict[str, np.ndarray]:
    return unwrap_state_dict(load_torch_checkpoint(FIXTURES / name))


@pytest.mark.parametrize("name", CHECKPOINTS[1:])
def test_all_checkpoint_formats_read_the_same(name: str) -> None:
    reference, other = tiny_state(), tiny_state(name)
    assert reference.keys() == other.keys()
    for key in reference:
        np.testing.assert_array_equal(reference[key], other[key])


def test_name_map_round_trip() -> None:
    state = {k: v for k, v in tiny_state().items() if not k.endswith("num_batches_tracked")}
    params = torch_to_nnabla(state)
    assert params["m0/b2_plus_1/bn1/bn/mean"].shape == (1, 16, 1, 1)
    assert "conv2/downsample/0/bn/gamma" in params and "conv2/downsample/2/conv/W" in params
    back = nnabla_to_torch(params)
    assert back.keys() == state.keys()


class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/fanzoo-pwned",))


def test_malicious_pickle_is_rejected_without_running(tmp_path: Path) -> None:
    marker = Path("/tmp/fanzoo-pwned")
    marker.unlink(missing_ok=True)
    import zipfile
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"conv.weight": Evil()}, protocol=2))
    with pytest.raises(WeightsError, match="posix.system|os.system|refusing"):
        load_torch_checkpoint(path)
    legacy = tmp_path / "evil_legacy.pth"
    legacy.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(WeightsError):
        load_torch_checkpoint(legacy)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [0.5, 0.98])
def test_truncated_checkpoint(tmp_path: Path, cut: float) -> None:
    for name in CHECKPOINTS[:2]:
        data = (FIXTURES / name).read_bytes()
        broken = tmp_path / name
        broken.write_bytes(data[: int(len(data) * cut)])
        with pytest.raises(WeightsError):
            load_torch_checkpoint(broken)


def test_foreign_files(tmp_path: Path) -> None:
    for content in (b"", b"hello world, not a checkpoint", b"PK\x03\x04garbage"):
        path = tmp_path / "x.pth"
        path.write_bytes(content)
        with pytest.raises(WeightsError):
            load_torch_checkpoint(path)


# -- import into the cache (names and shapes from the shipped graph: no NNabla) ------------------------------
@pytest.fixture
def tiny_plugins():
    with use_plugins(plugins_with(tiny_spec(), tiny_tag())) as p:
        yield p


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_imported_authors_checkpoint_reproduces_their_output(name: str, tiny_plugins, isolated_home) -> None:
    """The authors' FAN classes at toy width, saved by torch in three formats: imported and bound without
    NNabla, ONNX Runtime reproduces what their PyTorch module computed."""
    from fanzoo.plugins import plugins
    from fanzoo.weights.importer import import_file

    spec = tiny_plugins.models.get("tinyfan")
    done = import_file(spec, FIXTURES / name)
    assert done.path.parent.parent == isolated_home and done.path.name == "tinyfan.local.npz"
    assert done.artifact is not None and done.artifact.parent.name == "tinyfan.local"
    io = np.load(FIXTURES / "tiny_fan_io.npz")
    out = plugins().backend("onnxruntime").load(done.artifact).run({"x": io["x"]})["heatmaps"]
    assert np.abs(out - io["y"]).max() / np.abs(io["y"]).max() <= 1e-5


@needs_nnabla
def test_imported_weights_in_the_nnabla_graph(tiny_plugins) -> None:
    from fanzoo.weights.importer import import_weights
    from fanzoo.weights.params import read_npz
    from fanzoo_nnabla.graph import GraphSession

    spec = tiny_plugins.models.get("tinyfan")
    io = np.load(FIXTURES / "tiny_fan_io.npz")
    out = GraphSession(spec, read_npz(import_weights(spec, FIXTURES / CHECKPOINTS[0]))).run({"x": io["x"]})
    assert np.abs(out["heatmaps"] - io["y"]).max() / np.abs(io["y"]).max() <= 1e-5


@needs_nnabla
def test_official_layout_loads_with_nnabla_own_loader(tiny_plugins, tmp_path: Path) -> None:
    import nnabla as nn

    from fanzoo.weights.importer import import_weights
    from fanzoo.weights.params import read_npz

    target = tmp_path / "w.h5"
    write_h5_params(target, read_npz(import_weights(tiny_plugins.models.get("tinyfan"), FIXTURES / CHECKPOINTS[0])))
    nn.clear_parameters()
    nn.load_parameters(str(target))
    loaded = {k: v.d for k, v in nn.get_parameters(grad_only=False).items()}
    nn.clear_parameters()
    ours = read_h5_params(target)
    assert loaded.keys() == ours.keys() and all(v.dtype == np.float32 for v in ours.values())


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.pop("m0/b1_2/conv1/conv/W"), "missing"),
    (lambda p: p.__setitem__("extra/conv/W", np.zeros((1,), np.float32)), "unexpected parameter 'extra/conv/W'"),
    (lambda p: p.__setitem__("l0/conv/b", np.zeros((67,), np.float32)), "'l0/conv/b' has shape"),
    (lambda p: p.__setitem__("bn1/bn/var", np.full((1, 8, 1, 1), np.nan, np.float32)), "NaN"),
])
def test_bad_parameters_name_the_offender_and_leave_cache(damage, message, tiny_plugins, tmp_path: Path) -> None:
    from fanzoo.weights.importer import import_weights
    from fanzoo.weights.params import read_npz

    spec = tiny_plugins.models.get("tinyfan")
    good = import_weights(spec, FIXTURES / CHECKPOINTS[0])
    before = good.read_bytes()
    params = read_npz(good)
    damage(params)
    bad = tmp_path / "bad.h5"
    write_h5_params(bad, params)
    with pytest.raises(WeightsError, match=message):
        import_weights(spec, bad)
    assert good.read_bytes() == before
    assert sorted(p.name for p in good.parent.iterdir()) == ["tinyfan.local.json", good.name]  # no temp files


# -- downloads over loopback HTTP ------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    lie_about_length = False

    def do_GET(self) -> None:
        self.send_response(200)
        length = len(self.payload) * (2 if self.lie_about_length else 1)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def test_fetch_verifies_and_imports(server, isolated_home) -> None:
    from fanzoo.weights.download import fetch

    payload = (FIXTURES / CHECKPOINTS[1]).read_bytes()
    _Handler.payload, _Handler.lie_about_length = payload, False
    digest = hashlib.sha256(payload).hexdigest()
    url = f"http://127.0.0.1:{server.server_port}/tiny_fan-{digest[:10]}.pth.tar"
    from fanzoo.registry import WeightsSource
    from fanzoo.weights.params import read_npz
    from fanzoo.weights.tags import lookup

    with use_plugins(plugins_with(tiny_spec(), tiny_tag(WeightsSource(url, "torch", sha256_prefix=digest[:10])))):
        done = fetch(lookup("tinyfan"), progress=False)
    assert done.model.name == "tinyfan.official" and done.path.name == "tinyfan.official.npz" and read_npz(done.path)


def test_fetch_rejects_wrong_hash_and_leaves_nothing(server, isolated_home) -> None:
    from fanzoo.registry import WeightsSource
    from fanzoo.weights.download import fetch
    from fanzoo.weights.tags import lookup

    _Handler.payload, _Handler.lie_about_length = (FIXTURES / CHECKPOINTS[1]).read_bytes(), False
    url = f"http://127.0.0.1:{server.server_port}/tiny_fan-0123456789.pth.tar"
    with use_plugins(plugins_with(tiny_spec(), tiny_tag(WeightsSource(url, "torch", sha256_prefix="0123456789")))), \
            pytest.raises(ChecksumError):
        fetch(lookup("tinyfan"), progress=False)
    assert not [p for p in isolated_home.rglob("*") if p.is_file()]


def test_interrupted_download_leaves_no_partial_file(server, isolated_home) -> None:
    from fanzoo.registry import WeightsSource
    from fanzoo.weights.download import fetch
    from fanzoo.weights.tags import lookup

    _Handler.payload, _Handler.lie_about_length = b"x" * 1000, True
    url = f"http://127.0.0.1:{server.server_port}/tiny_fan-0123456789.pth.tar"
    with use_plugins(plugins_with(tiny_spec(), tiny_tag(WeightsSource(url, "torch", sha256_prefix="0123456789")))), \
            pytest.raises(DownloadError):
        fetch(lookup("tinyfan"), progress=False)
    assert not [p for p in isolated_home.rglob("*") if p.is_file()]


def test_offline_is_a_clear_error(isolated_home) -> None:
    from fanzoo.registry import WeightsSource
    from fanzoo.weights.download import fetch
    from fanzoo.weights.tags import lookup

    source = WeightsSource("http://127.0.0.1:9/tiny_fan-0123456789.pth.tar", "torch", sha256_prefix="0123456789")
    with use_plugins(plugins_with(tiny_spec(), tiny_tag(source))), pytest.raises(DownloadError, match="offline"):
        fetch(lookup("tinyfan"), progress=False)


def test_unverifiable_source_needs_a_hash(server, isolated_home) -> None:
    from fanzoo.registry import WeightsSource
    from fanzoo.weights.download import fetch
    from fanzoo.weights.tags import lookup

    _Handler.payload, _Handler.lie_about_length = (FIXTURES / CHECKPOINTS[1]).read_bytes(), False
    url = f"http://127.0.0.1:{server.server_port}/tiny.h5"
    with use_plugins(plugins_with(tiny_spec(), tiny_tag(WeightsSource(url, "nnabla-h5")))):
        with pytest.raises(ChecksumError, match="--sha256"):
            fetch(lookup("tinyfan"), progress=False)
        digest = hashlib.sha256(_Handler.payload).hexdigest()
        # the file the user vouched for is the tag's file
        assert fetch(lookup("tinyfan"), expected_sha256=digest, progress=False).model.name == "tinyfan.official"


def test_fetching_a_3d_model_fetches_its_depth_network_too(server, isolated_home) -> None:
    """`fanzoo weights fetch` of a model that predicts z with a second network fetches both, and says so."""
    from click.testing import CliRunner

    from fanzoo.cli import (
        cli,
        weights,  # noqa: F401
    )
    from fanzoo.registry import WeightsSource

    from .tiny import tiny_3d_spec

    payload = (FIXTURES / CHECKPOINTS[1]).read_bytes()
    _Handler.payload, _Handler.lie_about_length = payload, False
    prefix = hashlib.sha256(payload).hexdigest()[:10]
    base = f"http://127.0.0.1:{server.server_port}"
    tags = (tiny_tag(WeightsSource(f"{base}/tiny_fan-{prefix}.pth.tar", "torch", sha256_prefix=prefix)),
            tiny_tag(WeightsSource(f"{base}/tiny_3d-{prefix}.pth.tar", "torch", sha256_prefix=prefix), model="tiny3d"))
    from fanzoo.plugins import Plugins, make_plugin_manager

    from .tiny import TinyPlugin

    with use_plugins(Plugins.collect(make_plugin_manager(extra=(TinyPlugin(tiny_spec(), tiny_3d_spec(), *tags),)))):
        result = CliRunner().invoke(cli, ["weights", "fetch", "tiny3d"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "tiny3d.official predicts z with tinyfan.official: fetching both" in result.output
    assert "tiny3d.official: weights verified" in result.output and "tinyfan.official: weights verified" in result.output
    assert (isolated_home / "artifacts" / "tiny3d.official" / "model.onnx").is_file()
    assert (isolated_home / "artifacts" / "tinyfan.official" / "model.onnx").is_file()


def test_a_missing_depth_network_is_named_before_any_work(isolated_home) -> None:
    from fanzoo.artifacts import prepare
    from fanzoo.errors import WeightsNotFoundError
    from fanzoo.plugins import Plugins, make_plugin_manager
    from fanzoo.weights.importer import import_file

    from .tiny import TinyPlugin, tiny_3d_spec

    with use_plugins(Plugins.collect(make_plugin_manager(extra=(TinyPlugin(tiny_spec(), tiny_3d_spec()),)))) as p:
        import_file(p.models.get("tiny3d"), FIXTURES / CHECKPOINTS[0], bind_onnx=False)
        with pytest.raises(WeightsNotFoundError, match="no weights for tinyfan.local, the depth network tiny3d.local needs"):
            prepare("tiny3d", "onnx")
    assert not (isolated_home / "artifacts").exists()  # nothing was made


@pytest.mark.parametrize("content", ["not json", "[]", '{"model": 1}', "[" * 100_000 + "]" * 100_000])
def test_a_damaged_weights_record_is_one_error(isolated_home, content: str) -> None:
    """The record beside imported weights is the user's file: whatever it holds ends in one WeightsError."""
    from fanzoo.weights.store import read_record, record_path

    path = record_path("2dfan4", "mine")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    with pytest.raises(WeightsError, match="is damaged"):
        read_record("2dfan4", "mine")
