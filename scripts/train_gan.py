#!/usr/bin/env python
"""Train a GAN baseline (pix2pix, SPADE with a reference encoder, or the APF-GAN recipe).

Writes to --out: stepNNNNNNN.safetensors (G weights + EMA; kind gan-<model>), .state.* (D, optimizer
moments, RNG, data position), latest.json, log.jsonl (d_step/* and g_step/* losses) and
previews/*.png (val masks, photos, samples). --config defaults to configs/gan/<model>-bench.json.

Examples:
    python scripts/train_gan.py --model pix2pix --config configs/gan/pix2pix-tiny.json --data data/synth --out runs/p2p
    python scripts/train_gan.py --model spade --data data/synth-bench --out runs/spade-bench
    python scripts/train_gan.py --model apf --config configs/gan/apf-full.json --data /data/2022 --out runs/apf --resume
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import add_training_args, resolve_config, run_cli  # noqa: E402
from lsgen.config import to_dict  # noqa: E402

MODEL_NAMES = ("pix2pix", "spade", "apf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--model", required=True, choices=MODEL_NAMES, help="which GAN to train")
    add_training_args(parser, default_config="")
    args = parser.parse_args()
    if not args.config:
        args.config = f"configs/gan/{args.model}-bench.json"
    from gan.train import sections_for, train  # noqa: PLC0415 - imports Jittor

    sections = resolve_config(args, sections_for(args.model))
    if args.dry_run:
        print(json.dumps({k: to_dict(v) for k, v in sections.items()}, indent=1))
        return
    from lsgen.runtime import select_device  # noqa: PLC0415

    select_device(args.device)
    path = train(args.model, sections, args.out, resume=args.resume, progress=not args.no_progress)
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
