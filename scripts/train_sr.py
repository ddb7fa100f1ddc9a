#!/usr/bin/env python
"""Train RCAN ×2 super-resolution on (downsampled real, real) pairs (gan/rcan.py, kind sr-rcan).

The data section's size is the high resolution; inputs are the photos downsampled ×2 (bicubic).
Writes to --out: stepNNNNNNN.safetensors (RCAN weights + EMA), .state.*, latest.json, log.jsonl
(sr/loss = L1 in [-1, 1] units). --config defaults to configs/sr/rcan-bench.json (64x48 -> 128x96).
Then `scripts/sr_tools.py psnr` compares it with bicubic, and `scripts/sr_tools.py compose` makes a
half-resolution generator + RCAN checkpoint for scripts/evaluate.py.

Examples:
    python scripts/train_sr.py --data data/synth-bench --out runs/rcan-bench
    python scripts/train_sr.py --config configs/sr/rcan-full.json --data /data/2023 --out runs/rcan --resume
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli, trainer_main  # noqa: E402


def load(args):
    from gan.sr_train import SECTIONS, train  # noqa: PLC0415 - imports Jittor

    return SECTIONS, train


if __name__ == "__main__":
    run_cli(lambda: trainer_main(__doc__, "configs/sr/rcan-bench.json", load))
