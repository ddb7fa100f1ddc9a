#!/usr/bin/env python
"""Paired comparison of two evaluated generators on the same test masks: per-image differences of
pixel accuracy and boundary accuracy (judge predictions), mean ± standard error and a paired
bootstrap 95% interval. Is a small change between two rows of an evaluation table real?

    python benchmarks/paired_rows.py --judge runs/segmenter-v2/step0005000.safetensors \\
        --a runs/compare-final/outputs/<digest A> --b runs/compare-final/outputs/<digest B>

--a/--b: output folders of scripts/evaluate.py (outputs/<checkpoint digest>/<mask name>.png), both
made on the same --data test masks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def per_image_scores(judge, images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) pixel accuracy and (N,) boundary accuracy (NaN for single-class masks)."""
    from evaluation import metrics  # noqa: PLC0415
    from lsgen.data.io import resize_label  # noqa: PLC0415

    preds, _ = judge.analyse(images)
    gts = [resize_label(m, judge.width, judge.height) for m in masks]
    boundary = [metrics.boundary_accuracy(g, p) for g, p in zip(gts, preds)]
    return judge.pixel_accuracies(preds, masks), np.array([np.nan if b is None else b for b in boundary])


def paired_summary(diff: np.ndarray, rng: np.random.Generator, rounds: int = 10000) -> str:
    """'mean ± s.e. [2.5%, 97.5%] of the bootstrap mean' of per-image differences (NaNs dropped)."""
    diff = diff[np.isfinite(diff)]
    means = diff[rng.integers(0, len(diff), (rounds, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return f"{diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} [{low:+.4f}, {high:+.4f}] (n={len(diff)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--judge", required=True, type=Path)
    parser.add_argument("--a", required=True, type=Path, help="outputs folder of row A (the baseline)")
    parser.add_argument("--b", required=True, type=Path, help="outputs folder of row B")
    parser.add_argument("--data", default="data/synth-bench", help="dataset whose test masks were sampled")
    args = parser.parse_args()
    from evaluation.judge import Judge  # noqa: PLC0415
    from lsgen.data.dataset import DataConfig, LandscapeDataset  # noqa: PLC0415
    from lsgen.data.io import read_image, read_label  # noqa: PLC0415

    test = LandscapeDataset(DataConfig(root=args.data), "test")
    names = [n for n in test.names if (args.a / f"{n}.png").is_file() and (args.b / f"{n}.png").is_file()]
    if not names:
        sys.exit(f"error: no test mask has an output in both {args.a} and {args.b}")
    labels = {stem: path for stem, _, path in test.items}
    masks = np.stack([read_label(labels[n]) for n in names])
    judge = Judge(args.judge)
    scores = {}
    for key, folder in (("a", args.a), ("b", args.b)):
        scores[key] = per_image_scores(judge, np.stack([read_image(folder / f"{n}.png") for n in names]), masks)
    rng = np.random.default_rng(0)
    print(f"B - A over {len(names)} masks (mean ± s.e. [bootstrap 95%]):")
    print(f"  pixel accuracy:    {paired_summary(scores['b'][0] - scores['a'][0], rng)}")
    print(f"  boundary accuracy: {paired_summary(scores['b'][1] - scores['a'][1], rng)}")


if __name__ == "__main__":
    from lsgen.cli import run_cli  # noqa: E402

    run_cli(main)
