"""Run the toy training under `mpirun -np N` (or alone) and save this rank's final weights.

usage: python tests/mpi_worker.py OUT_DIR STEPS
Writes OUT_DIR/rank<r>.safetensors (every rank) and the run dir OUT_DIR/run (rank 0 only).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from toy_task import ToyDataset, make_task  # noqa: E402

from lsgen.checkpoint import atomic_save_arrays, module_arrays  # noqa: E402
from lsgen.data.loader import BatchLoader  # noqa: E402
from lsgen.train import dist  # noqa: E402
from lsgen.train.loop import TrainConfig, run_training  # noqa: E402


def main(out_dir: Path, steps: int) -> None:
    cfg = TrainConfig(steps=steps, batch_size=8, grad_accum=2, log_every=2, save_every=steps, ema_decay=0.0)
    task = make_task(cfg)
    run_training(task, cfg, BatchLoader(ToyDataset(), cfg.batch_size, seed=1), out_dir / "run", progress=False)
    atomic_save_arrays(out_dir / f"rank{dist.rank()}.safetensors", module_arrays(task.model),
                       {"world_size": str(dist.world_size())})


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
