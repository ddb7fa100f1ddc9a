"""CUDA 13 / cuDNN 9 fixes: applied to a pristine copy of Jittor's sources, every edit lands, a
second run is a no-op, and the patched helper_cuda.h compiles with nvcc where the original fails."""
from __future__ import annotations

import ast
import shutil
import subprocess

import pytest

from lsgen import cuda_patch
from lsgen.runtime import resolve_device

SOURCES = ("__init__.py", "compile_extern.py", "extern/cuda/inc", "extern/cuda/cudnn")
PROBE = """#include <cuda_runtime.h>
#include <helper_string.h>
#include <helper_cuda.h>
int main() { return gpuDeviceInit(0) + gpuGetMaxGflopsDeviceId(); }
"""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    source = cuda_patch.jittor_dir()
    if cuda_patch.MARKER in (source / "compile_extern.py").read_text():
        pytest.skip("the installed Jittor is already patched (GPU machine): no pristine copy here")
    copy = tmp_path_factory.mktemp("jittor")
    for rel in SOURCES:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (source / rel).is_dir() else shutil.copy)(source / rel, copy / rel)
    return source, copy


def test_patch_lands_once(pristine):
    _, root = pristine
    changes = cuda_patch.apply(root)
    assert "helper_cuda.h: device attributes" in changes and "compile_extern.py: cuDNN 9 library names" in changes
    assert sum(c.startswith("disabled") for c in changes) == 6
    header = (root / "extern/cuda/inc/helper_cuda.h").read_text()
    assert "deviceProp.computeMode" not in header and "deviceProp.clockRate" not in header
    assert header.count("cudaDevAttrComputeMode") == 3 and "cudaDevAttrClockRate" in header
    extern = (root / "compile_extern.py").read_text()
    ast.parse(extern)
    assert '"libcudnn_graph.so"' in extern and "except Exception:" in extern
    assert not cuda_patch.rnn_sources(root)
    snapshot = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert cuda_patch.apply(root) == []
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == snapshot


def test_unknown_version_is_left_alone(tmp_path):
    (tmp_path / "__init__.py").write_text('__version__ = "1.3.9.0"\n')
    with pytest.raises(cuda_patch.UnknownSource, match="1.3.9.0 is not a version"):
        cuda_patch.apply(tmp_path)
    with pytest.raises(cuda_patch.UnknownSource, match="helper_cuda.h"):
        cuda_patch.patch_helper_cuda("int main() {}")


def test_link_cudnn_headers(tmp_path):
    arch = tmp_path / "x86_64-linux-gnu"
    arch.mkdir()
    (arch / "cudnn.h").write_text("//")
    (arch / "cudnn_version.h").write_text("//")
    assert len(cuda_patch.link_cudnn_headers(tmp_path)) == 2
    assert (tmp_path / "cudnn.h").resolve() == (arch / "cudnn.h").resolve()
    assert cuda_patch.link_cudnn_headers(tmp_path) == []


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed: cannot compile the CUDA header")
def test_patched_header_compiles_with_nvcc(pristine, tmp_path):
    source, root = pristine
    cuda_patch.apply(root)
    probe = tmp_path / "probe.cu"
    probe.write_text(PROBE)

    def compile_with(include):
        return subprocess.run(["nvcc", "-c", str(probe), f"-I{include}", f"-I{source / 'src'}",
                               "-o", str(tmp_path / "probe.o")], capture_output=True, text=True, timeout=300)

    original = compile_with(source / "extern/cuda/inc")
    if "cuda_runtime.h" in original.stderr and "No such file" in original.stderr:
        pytest.skip("nvcc has no CUDA runtime headers")
    assert original.returncode != 0 and 'has no member "computeMode"' in original.stderr
    patched = compile_with(root / "extern/cuda/inc")
    assert patched.returncode == 0, patched.stderr


@pytest.mark.parametrize("requested, gpu, built, expected", [
    ("auto", False, False, ("cpu", "no NVIDIA GPU visible")),
    ("auto", True, True, ("cuda", "GPU available")),
    ("auto", True, False, ("cpu", "jittor was built without CUDA (see README 'On GPUs')")),
    ("cpu", True, True, ("cpu", "requested")),
    ("cuda", True, True, ("cuda", "requested")),
])
def test_resolve_device(requested, gpu, built, expected):
    assert resolve_device(requested, gpu, built) == expected


def test_cuda_without_gpu_is_an_error():
    with pytest.raises(RuntimeError, match="--device cuda: no NVIDIA GPU visible"):
        resolve_device("cuda", False, False)
