#!/usr/bin/env python
"""Train LoRA adapters (attention projections / ResBlock convs) on a frozen base UNet.

The base UNet (--base, or base.unet in the config) is frozen for real; only the adapter trains.
Writes to --out: stepNNNNNNN.safetensors (+ .state.*, latest.json), log.jsonl and at the end
lora.safetensors (the adapter alone, its config and its base UNet's config in the metadata).
Use it with: python scripts/sample.py --checkpoint <base run> --lora <out>/lora.safetensors ...

Style subset of a synthetic dataset (its styles.json; "key=a|b,key2=c" over time_of_day, season,
weather) with --style-filter; it is recorded in the adapter's metadata (benchmarks/lora_style.py
reads it from there).

Examples:
    python scripts/train_lora.py --config configs/lora/small.json --base runs/unet/unet.safetensors --out runs/lora
    python scripts/train_lora.py --config configs/lora/small.json --base runs/unet/unet.safetensors \\
        --vae runs/vae/vae.safetensors --latents runs/latents/train.safetensors \\
        --style-filter "time_of_day=dusk" --out runs/lora-dusk
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli, trainer_main  # noqa: E402


def load(args):
    from functools import partial  # noqa: PLC0415

    from controlnet.train import LORA_SECTIONS, train_adapter  # noqa: PLC0415 - imports Jittor

    return LORA_SECTIONS, partial(train_adapter, "lora")


if __name__ == "__main__":
    run_cli(lambda: trainer_main(__doc__, "configs/lora/small.json", load, {
        "base": ("base.unet", "frozen base UNet checkpoint"), "vae": ("data.vae", "VAE checkpoint"),
        "latents": ("data.train_cache", "train latent cache"),
        "style_filter": ("data.style_filter", 'train on one style subset, e.g. "time_of_day=dusk"')}))
