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
    add_training_args(parser, default_config="configs/vae/small.json")
    args = parser.parse_args()
    from vae.train import SECTIONS, train  # noqa: PLC0415 - imports Jittor

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
