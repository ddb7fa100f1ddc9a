"""Runtime: no-GPU environment, device choice, seeding, precision flags, no downloads ever."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import run_script

from lsgen import setup_env
from lsgen.runtime import jt, seed_everything, select_device, set_precision


def test_cpu_machine_environment():
    if setup_env.nvidia_gpu_visible():
        pytest.skip("a GPU is visible: nvcc_path stays set")
    assert os.environ["nvcc_path"] == ""
    assert not jt.has_cuda
    assert setup_env.onednn_wired()
    assert os.environ["JITTOR_HOME"]  # pinned: another process's JITTOR_HOME cannot redirect our cache


def test_select_device(capsys, monkeypatch):
    from lsgen import runtime

    monkeypatch.setattr(runtime, "_device_reported", set())  # said once per process: earlier tests said it
    assert select_device("cpu") == "cpu" and jt.flags.use_cuda == 0
    if not jt.has_cuda:
        assert select_device("auto") == "cpu"
        assert "device: cpu (no NVIDIA GPU visible)" in capsys.readouterr().err
        with pytest.raises(RuntimeError, match="--device cuda: no NVIDIA GPU visible"):
            select_device("cuda")
    with pytest.raises(ValueError):
        select_device("tpu")


def test_seed_everything_reproduces_all_generators():
    import random

    draws = []
    for _ in range(2):
        seed_everything(123)
        draws.append((random.random(), np.random.rand(), jt.randn(3).numpy().tolist()))
    assert draws[0] == draws[1]
    seed_everything(124)
    assert jt.randn(3).numpy().tolist() != draws[0][2]


def test_precision_flags():
    set_precision("fp16")
    assert jt.flags.auto_mixed_precision_level == 4
    set_precision("fp32")
    assert jt.flags.auto_mixed_precision_level == 0
    with pytest.raises(ValueError):
        set_precision("int8")


def test_wire_onednn_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv("JITTOR_HOME", str(tmp_path))
    assert not setup_env.onednn_wired()
    assert setup_env.wire_onednn() is True
    assert setup_env.onednn_wired()
    assert setup_env.wire_onednn() is False


def test_missing_onednn_is_one_line_error_not_a_download(tmp_path):
    """With an empty Jittor cache and no Debian oneDNN, importing must stop before Jittor would
    download anything, with one line naming the setup command."""
    result = run_script("-c", "import lsgen.runtime", env={"JITTOR_HOME": str(tmp_path),
                                                          "LSGEN_DNNL_LIB": str(tmp_path / "absent.so")})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "scripts/setup.sh" in lines[0] and lines[0].startswith("error:")
    assert not (tmp_path / ".cache" / "jittor" / "jt1.3.11").exists()
