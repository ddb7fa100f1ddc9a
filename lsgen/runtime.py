"""The only place that touches Jittor's environment variables and flags.

Import it before Jittor anywhere in the project (`from lsgen.runtime import jt`). At import it:
- empties `nvcc_path` when no NVIDIA GPU is visible (nvcc without a CUDA runtime crashes Jittor);
- makes sure Jittor downloads nothing: oneDNN must be wired from Debian's package (done by
  scripts/setup.sh, or here when the package is installed), cuTT/CUTLASS/NCCL downloads are off
  unless the user configured them; otherwise it exits with one line naming the setup command;
- keeps Jittor's per-op compile chatter quiet (`log_silent`) unless LSGEN_VERBOSE=1.

`select_device` picks cpu/cuda at run time; `seed_everything` seeds Python, numpy and Jittor;
`set_precision` maps `--precision` onto Jittor's mixed-precision flags.
"""
from __future__ import annotations

import os
import random
import sys

import numpy as np

from lsgen import setup_env

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16")


def _configure_environment() -> None:
    """Set Jittor's environment switches before its first import (JITTOR.md §1, §2, §5)."""
    setup_env.pin_jittor_home()
    if os.environ.get("LSGEN_VERBOSE") != "1":
        os.environ.setdefault("log_silent", "1")
    gpu = setup_env.nvidia_gpu_visible()
    if not gpu:
        os.environ["nvcc_path"] = ""
    else:
        for switch in ("use_cutt", "use_cutlass"):
            os.environ.setdefault(switch, "0")
        if not os.environ.get("nccl_lib_path"):
            os.environ.setdefault("use_nccl", "0")
    if os.environ.get("use_mkl") == "0" or setup_env.onednn_wired():
        return
    try:
        setup_env.wire_onednn()
    except RuntimeError as err:
        sys.exit(f"error: Jittor would download oneDNN: {err}")


def _import_jittor():
    _configure_environment()
    try:
        import jittor  # noqa: PLC0415 - must follow _configure_environment
    except Exception as err:  # noqa: BLE001 - Jittor raises bare Exceptions while setting up
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        sys.exit(f"error: importing jittor failed ({first}); {setup_env.SETUP_HINT}")
    return jittor


jt = _import_jittor()
_device_reported: set[str] = set()


def _report_once(message: str) -> None:
    if message not in _device_reported:
        _device_reported.add(message)
        print(message, file=sys.stderr)


def resolve_device(requested: str, gpu_visible: bool, jittor_has_cuda: bool) -> tuple[str, str]:
    """Pure device decision: (chosen 'cpu'|'cuda', reason). 'cuda' that cannot be had raises."""
    if requested not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {requested!r}")
    problem = None
    if not gpu_visible:
        problem = "no NVIDIA GPU visible"
    elif not jittor_has_cuda:
        problem = "jittor was built without CUDA (see README 'On GPUs')"
    if requested == "cuda" and problem:
        raise RuntimeError(f"--device cuda: {problem}")
    if requested == "cpu":
        return "cpu", "requested"
    if problem:
        return "cpu", problem
    return "cuda", "requested" if requested == "cuda" else "GPU available"


def select_device(device: str = "auto") -> str:
    """Choose where Jittor runs. device: 'auto' | 'cpu' | 'cuda'. Returns 'cpu' or 'cuda'.

    'cuda' without a usable device raises RuntimeError; 'auto' falls back to cpu and says why once.
    Under MPI on GPUs it also says once whether gradients are all-reduced through NCCL.
    """
    gpu_visible = os.environ.get("nvcc_path") != ""
    chosen, reason = resolve_device(device, gpu_visible, bool(jt.has_cuda))
    jt.flags.use_cuda = int(chosen == "cuda")
    _report_once(f"device: {chosen} ({reason})")
    if chosen == "cuda" and jt.in_mpi:
        nccl = getattr(jt.compile_extern, "nccl_ops", None) is not None
        _report_once("multi-GPU: NCCL all-reduce" if nccl else
                     "multi-GPU: NCCL not configured (set nccl_include_path/nccl_lib_path); using MPI over host memory")
    return chosen


def set_precision(precision: str = "fp32") -> None:
    """Compute precision: 'fp32' (default), 'fp16' or 'bf16' autocast; parameters stay fp32.

    fp16/bf16 use Jittor's auto mixed precision level 4 (fp16 compute, sums/exps in fp32); they
    need a GPU to pay off and are untested on CPU machines.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    jt.flags.auto_mixed_precision_level = 0 if precision == "fp32" else 4
    jt.flags.amp_reg = 0 if precision != "bf16" else jt.flags.amp_reg | (1 << 4)


def seed_everything(seed: int, per_rank: bool = False) -> None:
    """Seed Python, numpy and Jittor. per_rank=True offsets the seed by the MPI rank."""
    seed = int(seed) + (jt.rank if per_rank and jt.in_mpi else 0)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    jt.set_global_seed(seed, different_seed_for_mpi=False)
