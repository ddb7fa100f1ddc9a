"""MPI data parallel on CPU: `mpirun -np 2` ends with identical weights on both ranks, equal to a
single-process run on the same global batch (JITTOR.md §3)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, run_script

from lsgen.checkpoint import read_arrays, read_metadata

MPIRUN = shutil.which("mpirun")
STEPS = "6"


@pytest.mark.skipif(MPIRUN is None, reason="Open MPI not installed (scripts/setup.sh installs it)")
def test_two_ranks_match_single_process(tmp_path):
    single = run_script("tests/mpi_worker.py", str(tmp_path / "single"), STEPS)
    assert single.returncode == 0, single.stderr[-2000:]
    mpi = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", sys.executable,
                          "tests/mpi_worker.py", str(tmp_path / "mpi"), STEPS],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    assert mpi.returncode == 0, mpi.stdout[-2000:] + mpi.stderr[-2000:]
    rank0 = read_arrays(tmp_path / "mpi/rank0.safetensors")
    rank1 = read_arrays(tmp_path / "mpi/rank1.safetensors")
    reference = read_arrays(tmp_path / "single/rank0.safetensors")
    for key in reference:
        np.testing.assert_array_equal(rank0[key], rank1[key], err_msg=f"ranks differ on {key}")
        np.testing.assert_allclose(rank0[key], reference[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert read_metadata(tmp_path / "mpi/run/step0000006.safetensors")["step"] == 6
    logs = (tmp_path / "mpi/run/log.jsonl").read_text().splitlines()
    assert len(logs) == 3  # one log line per 2 steps, written by rank 0 only
