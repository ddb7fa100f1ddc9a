"""Checkpoints: metadata round trip, strict loading that names the problem, atomic writes."""
from __future__ import annotations

import numpy as np
import pytest
from toy_task import ToyNet

from lsgen import checkpoint as ckpt
from lsgen.runtime import jt


def weights(net) -> dict:
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}


def test_save_load_round_trip_identical_outputs(tmp_path):
    jt.set_global_seed(0)
    net, other = ToyNet(), ToyNet()
    path = tmp_path / "toy.safetensors"
    ckpt.save_weights(path, ckpt.module_arrays(net), "toy", {"width": 8}, step=12, extra={"latent_scale": 0.5})
    meta = ckpt.read_metadata(path)
    assert meta["kind"] == "toy" and meta["step"] == 12 and meta["config"] == {"width": 8}
    assert meta["format"] == ckpt.FORMAT and meta["dtype"] == "float32" and meta["latent_scale"] == "0.5"
    ckpt.load_weights(other, path, kind="toy")
    x = jt.randn(2, 3, 8, 8)
    np.testing.assert_array_equal(net(x).numpy(), other(x).numpy())
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left


def test_strict_loading_names_problems_and_writes_nothing(tmp_path):
    net = ToyNet()
    before = weights(net)
    arrays = ckpt.module_arrays(ToyNet())
    arrays.pop("conv1.bias")
    arrays["extra.weight"] = np.zeros(3, np.float32)
    arrays["conv2.weight"] = np.zeros((3, 8, 1, 1), np.float32)
    path = tmp_path / "bad.safetensors"
    ckpt.save_weights(path, arrays, "toy", {}, 0)
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load_weights(net, path)
    message = str(err.value)
    assert "1 missing keys (conv1.bias)" in message and "1 unexpected keys (extra.weight)" in message
    assert "conv2.weight (3, 8, 1, 1) vs model (3, 8, 3, 3)" in message
    for key, value in weights(net).items():
        np.testing.assert_array_equal(value, before[key])
    with pytest.raises(ckpt.CheckpointError, match="kind is 'toy', expected 'vae'"):
        ckpt.load_weights(net, path, kind="vae")


def test_corrupt_missing_and_foreign_files(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ckpt.CheckpointError, match="not a readable safetensors"):
        ckpt.read_metadata(tmp_path / "junk.safetensors")
    with pytest.raises(ckpt.CheckpointError, match="not found"):
        ckpt.read_metadata(tmp_path / "none.safetensors")
    from safetensors.numpy import save_file
    save_file({"a": np.zeros(2, np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ckpt.CheckpointError, match="not an lsgen checkpoint"):
        ckpt.read_metadata(tmp_path / "foreign.safetensors")
    save_file({"a": np.zeros(2, np.float32)}, str(tmp_path / "x.state.safetensors"),
              metadata={"format": ckpt.FORMAT, "kind": "state"})
    with pytest.raises(ckpt.CheckpointError, match="holds no model config"):
        ckpt.read_metadata(tmp_path / "x.state.safetensors")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.txt"
    ckpt.atomic_write_text(path, "old")
    with pytest.raises(RuntimeError):
        with ckpt.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_training_state_and_latest_pointer(tmp_path):
    assert ckpt.read_latest(tmp_path) is None
    ckpt.save_training_state(tmp_path, "step0000003", {"m": np.ones(2, np.float32)}, {"step": 3})
    ckpt.write_latest(tmp_path, "step0000003")
    arrays, state = ckpt.load_training_state(tmp_path, ckpt.read_latest(tmp_path))
    assert state == {"step": 3} and arrays["m"].tolist() == [1, 1]
    assert len(ckpt.file_digest(tmp_path / "step0000003.state.safetensors")) == 16
