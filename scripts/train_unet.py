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

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import add_training_args, resolve_config, run_cli  # noqa: E402
from lsgen.config import to_dict  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    add_training_args(parser, default_config="configs/unet/small.json")
    parser.add_argument("--vae", help="VAE checkpoint (data.vae)")
    parser.add_argument("--latents", help="train latent cache (data.train_cache)")
    args = parser.parse_args()
    for flag, key in (("vae", "data.vae"), ("latents", "data.train_cache")):
        if getattr(args, flag):
            args.set.append(f"{key}={json.dumps(getattr(args, flag))}")
    from diffusion.train import SECTIONS, train  # noqa: PLC0415 - imports Jittor

    sections = resolve_config(args, SECTIONS)
    if args.dry_run:
        print(json.dumps({k: to_dict(v) for k, v in sections.items()}, indent=1))
        return
    from lsgen.runtime import select_device  # noqa: PLC0415

    select_device(args.device)
    path = train(sections, args.out, resume=args.resume, progress=not args.no_progress)
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
