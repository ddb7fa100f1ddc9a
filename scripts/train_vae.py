#!/usr/bin/env python
"""Train the KL autoencoder (stage 1) on a dataset's train split.

Writes to --out: stepNNNNNNN.safetensors (+ .state.*, latest.json), log.jsonl, previews/*.png
(val images over their reconstructions) with previews.jsonl (their PSNR), and at the end
vae.safetensors: the weights (EMA included) with the measured `latent_scale` in the metadata.

Examples:
    python scripts/train_vae.py --config configs/vae/tiny.json --data data/synth --out runs/vae_tiny
    python scripts/train_vae.py --config configs/vae/small.json --data data/synth256 --out runs/vae_small
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli, trainer_main  # noqa: E402


def load(args):
    from vae.train import SECTIONS, train  # noqa: PLC0415 - imports Jittor

    return SECTIONS, train


if __name__ == "__main__":
    run_cli(lambda: trainer_main(__doc__, "configs/vae/small.json", load))
