#!/usr/bin/env python
"""Fit the class-colour baseline generator (each class painted with its mean training colour) and
save it as a checkpoint of kind "class-colour" that scripts/evaluate.py can score.

Example:
    python scripts/fit_class_colours.py --data data/synth-bench --out runs/class-colour.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int, run_cli  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/synth-bench", help="dataset root (default: %(default)s)")
    parser.add_argument("--out", required=True, type=Path, help="output checkpoint (.safetensors)")
    parser.add_argument("--size", type=parse_size, default=(128, 96), help="WxH (default: 128x96)")
    parser.add_argument("--limit", type=positive_int, help="use the first N train images only")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    from evaluation.baselines import fit_class_colours, save_class_colours  # noqa: PLC0415
    from evaluation.protocol import SYNTH_BENCH  # noqa: PLC0415
    from lsgen.data.dataset import DataConfig, LandscapeDataset  # noqa: PLC0415

    cfg = DataConfig(**{**SYNTH_BENCH.__dict__, "root": args.data, "width": args.size[0], "height": args.size[1]})
    colours = fit_class_colours(LandscapeDataset(cfg, "train"), args.limit, progress=not args.no_progress)
    save_class_colours(args.out, colours, args.data)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_cli(main)
