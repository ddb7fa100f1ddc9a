"""MPI data parallel helpers (Jittor's `mpirun -np N` model; see JITTOR.md §3)."""
from __future__ import annotations

import numpy as np

from lsgen.runtime import jt


def world_size() -> int:
    return int(jt.world_size) if jt.in_mpi else 1


def rank() -> int:
    return int(jt.rank) if jt.in_mpi else 0


def is_main() -> bool:
    """Only rank 0 writes files and prints progress."""
    return rank() == 0


def local_slice(global_batch: int) -> slice:
    """This rank's share of a global batch; the batch must split evenly across ranks."""
    size = world_size()
    if global_batch % size:
        raise ValueError(f"global batch {global_batch} does not split over {size} MPI ranks")
    per_rank = global_batch // size
    return slice(rank() * per_rank, (rank() + 1) * per_rank)


def broadcast_parameters(module) -> None:
    """Copy rank 0's weights to every rank (identical starting point for data parallel)."""
    if not jt.in_mpi:
        return
    for var in module.state_dict().values():
        var.update(var.mpi_broadcast(0))


def mean_over_ranks(values: np.ndarray) -> np.ndarray:
    """Average a small float array over ranks (metrics, logged losses)."""
    if not jt.in_mpi:
        return values
    return jt.array(np.asarray(values, dtype=np.float32)).mpi_all_reduce("mean").numpy()
