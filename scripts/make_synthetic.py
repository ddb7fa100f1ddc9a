#!/usr/bin/env python
"""Write the built-in synthetic landscape dataset in the 2023 contest layout.

    python scripts/make_synthetic.py --out data/synth --n 200 --size 512x384 --seed 0 \
        [--n-test K] [--workers W] [--overwrite] [--preview grid.png]

The dataset is built in <out>.tmp-<pid> and moved into place only when complete. Errors are one
line on stderr with a non-zero exit code. See lsgen.data.synthetic for the on-disk layout.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lsgen.data.synthetic import MIN_SIZE, contact_sheet, write_dataset

PREVIEW_PAIRS = 8


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors as a single line (no usage block) and exits 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_size(text: str) -> tuple[int, int]:
    """'512x384' -> (512, 384) as (width, height); raises argparse.ArgumentTypeError."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}, expected WIDTHxHEIGHT such as 512x384")
    width, height = int(match.group(1)), int(match.group(2))
    if min(width, height) < MIN_SIZE:
        raise argparse.ArgumentTypeError(f"size {text!r} too small: each side must be at least {MIN_SIZE} px")
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="make_synthetic.py",
                           description="Write the procedural synthetic landscape dataset (contest 2023 layout).")
    parser.add_argument("--out", type=Path, required=True, help="output directory (must not exist or be empty)")
    parser.add_argument("--n", type=int, default=200, help="number of train pairs (default 200)")
    parser.add_argument("--n-test", type=int, default=None, help="number of test pairs (default max(1, n // 10))")
    parser.add_argument("--size", type=parse_size, default=(512, 384), help="WIDTHxHEIGHT (default 512x384)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed, >= 0 (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--preview", type=Path, default=None, help="also write a contact sheet PNG of 8 pairs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """Reject bad values before anything is written (parser.error exits)."""
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    if args.n_test is not None and args.n_test < 1:
        parser.error(f"--n-test must be >= 1, got {args.n_test}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    out = args.out
    if out.exists() and not args.overwrite and (out.is_file() or any(out.iterdir())):
        parser.error(f"--out {out} exists and is not empty (use --overwrite to replace it)")
    if args.preview is not None and args.preview.suffix.lower() != ".png":
        parser.error(f"--preview must be a .png path, got {args.preview}")


def write_preview(root: Path, path: Path) -> None:
    """Contact sheet of the first train pairs of a written dataset."""
    stems = sorted(p.stem for p in (root / "train_resized" / "labels").glob("*.png"))[:PREVIEW_PAIRS]
    images = [np.asarray(Image.open(root / "train_resized" / "imgs" / f"{s}.jpg").convert("RGB")) for s in stems]
    masks = [np.asarray(Image.open(root / "train_resized" / "labels" / f"{s}.png")) for s in stems]
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(images, masks).save(path)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    width, height = args.size
    start = time.perf_counter()
    try:
        out = write_dataset(args.out, args.n, width=width, height=height, seed=args.seed, n_test=args.n_test,
                            workers=args.workers, progress=not args.quiet, overwrite=args.overwrite)
        if args.preview is not None:
            write_preview(out, args.preview)
    except KeyboardInterrupt:
        print(f"{parser.prog}: error: interrupted, nothing written", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    n_test = args.n_test if args.n_test is not None else max(1, args.n // 10)
    print(f"wrote {args.n} train + {n_test} test pairs at {width}x{height} to {out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
