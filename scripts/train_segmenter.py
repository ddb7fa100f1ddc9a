#!/usr/bin/env python
"""Train the SegFormer-style segmenter judge (evaluation/segmenter.py) on a dataset's train split.

Example (the synth-bench judge v2: 5,000 updates, ~24 CPU-minutes single-threaded, val accuracy 0.87):
    OMP_NUM_THREADS=1 python scripts/train_segmenter.py --config configs/segmenter/small-v2.json --out runs/segmenter-v2
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli, trainer_main  # noqa: E402


def load(args):
    from evaluation.train_segmenter import SECTIONS, train_segmenter  # noqa: PLC0415 - imports Jittor

    return SECTIONS, train_segmenter


if __name__ == "__main__":
    run_cli(lambda: trainer_main(__doc__, "configs/segmenter/small.json", load))
