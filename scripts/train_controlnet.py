#!/usr/bin/env python
"""Train a ControlNet (full-resolution mask or edge control) on a frozen base UNet.

The base UNet (--base, or base.unet in the config) is frozen for real; only the adapter trains.
Writes to --out: stepNNNNNNN.safetensors (+ .state.*, latest.json), log.jsonl and at the end
controlnet.safetensors (the adapter alone, its config and its base UNet's config in the metadata).
Use it with: python scripts/sample.py --checkpoint <base run> --controlnet <out>/controlnet.safetensors ...

Examples:
    python scripts/train_controlnet.py --config configs/controlnet/small.json --base runs/unet/unet.safetensors --out runs/controlnet
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
    add_training_args(parser, default_config="configs/controlnet/small.json")
    parser.add_argument("--base", help="frozen base UNet checkpoint (base.unet)")
    args = parser.parse_args()
    if args.base:
        args.set.append(f"base.unet={json.dumps(args.base)}")
    from controlnet.train import CONTROLNET_SECTIONS, train_adapter  # noqa: PLC0415 - imports Jittor

    sections = resolve_config(args, CONTROLNET_SECTIONS)
    if args.dry_run:
        print(json.dumps({k: to_dict(v) for k, v in sections.items()}, indent=1))
        return
    from lsgen.runtime import select_device  # noqa: PLC0415

    select_device(args.device)
    path = train_adapter("controlnet", sections, args.out, resume=args.resume, progress=not args.no_progress)
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
