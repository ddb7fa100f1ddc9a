#!/usr/bin/env python
"""Train the mask-conditioned denoising UNet (stage 2) on a VAE's cached latents.

First cache the latents: python scripts/encode_latents.py --vae runs/vae/vae.safetensors ...
Writes to --out: stepNNNNNNN.safetensors (+ .state.*, latest.json), log.jsonl, preview_*.png
(val masks beside samples) and at the end unet.safetensors (weights + EMA; the VAE's path, digest
and latent scale in the metadata, so sampling needs only this file).

Examples:
    python scripts/train_unet.py --config configs/unet/tiny.json --out runs/unet_tiny --steps 50
    mpirun -np 2 python scripts/train_unet.py --config configs/unet/small.json --out runs/unet_small
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli, trainer_main  # noqa: E402


def load(args):
    from diffusion.train import SECTIONS, train  # noqa: PLC0415 - imports Jittor

    return SECTIONS, train


if __name__ == "__main__":
    run_cli(lambda: trainer_main(__doc__, "configs/unet/small.json", load,
                                 {"vae": ("data.vae", "VAE checkpoint"), "latents": ("data.train_cache", "train latent cache")}))
