#!/usr/bin/env python
"""×2 super-resolution tools: compose a half-resolution generator with RCAN (or bicubic) for
scripts/evaluate.py, and measure an RCAN's PSNR against bicubic.

Subcommands:
    compose --base G --out OUT [--rcan R]   an "sr-pipeline" checkpoint: generator G (any registered kind,
                                            trained at half the evaluation size) sampled at H/2 x W/2, then
                                            upsampled by RCAN checkpoint R (bicubic without --rcan)
    psnr --rcan R [--data D --size WxH]     mean PSNR (uint8 RGB) of R and of bicubic x2 on a split's photos
                                            downsampled x2 (default: synth-bench val, 128x96)

Examples:
    python scripts/sr_tools.py psnr --rcan runs/rcan-bench/step0000300.safetensors
    python scripts/sr_tools.py compose --base runs/lggan-half/step0000600.safetensors \\
        --rcan runs/rcan-bench/step0000300.safetensors --out runs/lggan-half+rcan.safetensors
    python scripts/evaluate.py --judge J --out runs/eval-sr runs/lggan-half+rcan.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int, run_cli, tool_parser  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser, sub = tool_parser(__doc__)
    comp = sub.add_parser("compose", help="half-resolution generator + x2 upsampler, for evaluate.py")
    comp.add_argument("--base", required=True, type=Path, help="generator checkpoint (half the evaluation size)")
    comp.add_argument("--rcan", type=Path, help="RCAN checkpoint (scripts/train_sr.py); default: bicubic")
    comp.add_argument("--out", required=True, type=Path, help="pipeline checkpoint to write")
    ps = sub.add_parser("psnr", help="PSNR of an RCAN and of bicubic x2")
    ps.add_argument("--rcan", required=True, type=Path, help="RCAN checkpoint")
    ps.add_argument("--data", default="data/synth-bench", help="dataset root (default: %(default)s)")
    ps.add_argument("--size", type=parse_size, default=(128, 96), help="high-resolution WxH (default 128x96)")
    ps.add_argument("--split", choices=("train", "val"), default="val", help="default: %(default)s")
    ps.add_argument("--limit", type=positive_int, help="first N photos of the split")
    ps.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return parser


def psnr_command(args) -> None:
    from evaluation.protocol import SYNTH_BENCH  # noqa: PLC0415
    from lsgen.data.dataset import DataConfig, LandscapeDataset  # noqa: PLC0415
    from lsgen.runtime import select_device  # noqa: PLC0415

    from gan.rcan import load_rcan  # noqa: PLC0415
    from gan.sr_pipeline import RCANUpsampler, psnr_vs_bicubic  # noqa: PLC0415
    from gan.sr_train import SRPairs  # noqa: PLC0415

    select_device(args.device)
    cfg = DataConfig(**{**SYNTH_BENCH.__dict__, "root": args.data, "width": args.size[0], "height": args.size[1],
                        "flip": False})
    pairs = SRPairs(LandscapeDataset(cfg, args.split))
    scores = psnr_vs_bicubic(RCANUpsampler(load_rcan(args.rcan)), pairs, args.limit)
    print(json.dumps({"rcan_db": round(scores["model"], 3), "bicubic_db": round(scores["bicubic"], 3),
                      "gain_db": round(scores["model"] - scores["bicubic"], 3), "images": scores["n"],
                      "split": args.split, "size": list(args.size)}))


def main() -> None:
    args = build_parser().parse_args()
    for path in [p for p in (getattr(args, "base", None), args.rcan) if p is not None]:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found")
    if args.command == "psnr":
        psnr_command(args)
        return
    from evaluation.registry import check_registered  # noqa: PLC0415 - no Jittor import
    from gan.sr_pipeline import compose  # noqa: PLC0415

    check_registered(args.base)
    print(f"wrote {compose(args.base, args.out, args.rcan)}")


if __name__ == "__main__":
    run_cli(main)
