#!/usr/bin/env python
"""Sanity table of the segmenter judge on synth-bench: ceiling accuracy on real held-out images and
the ordering FD-seg(real, real) << FD-seg(real, wrong colours) << FD-seg(real, noise).

    python benchmarks/judge_sanity.py --judge runs/segmenter-small/step0001200.safetensors

Rows (FD-seg / KID-seg against the train split's images, the contest's FID reference):
    real val        the 200 held-out pairs of the train folder (never trained on)
    real test       the 200 test ground-truth images (rendered in their reference's style)
    class-colour    test masks painted with each class's mean training colour
    shuffled-colour the same colours assigned to the wrong classes
    noise           uniform random pixels
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli  # noqa: E402


def painted(masks: np.ndarray, colours: np.ndarray) -> np.ndarray:
    from evaluation.baselines import paint  # noqa: PLC0415
    from lsgen.data.io import from_model_image, onehot  # noqa: PLC0415

    return np.stack([from_model_image(paint(onehot(m)[None], colours)[0]) for m in masks])


def table_rows(judge, sets: dict, reference: np.ndarray) -> list[str]:
    from evaluation import metrics  # noqa: PLC0415

    rows = []
    for name, (images, masks) in sets.items():
        preds, feats = judge.analyse(images)
        scores = judge.mask_scores(preds, masks)
        kid, kid_std = metrics.kernel_inception_distance(feats, reference)
        rows.append(f"| {name} | {len(images)} | {scores['pixel_acc']:.4f} | {scores['miou']:.4f} "
                    f"| {metrics.frechet_distance_features(feats, reference):.3f} | {kid:.4f} ± {kid_std:.4f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", required=True, type=Path, help="segmenter checkpoint")
    parser.add_argument("--data", default="data/synth-bench", help="synth-bench root (default: %(default)s)")
    parser.add_argument("--flip-test", choices=("checkpoint", "on", "off"), default="checkpoint",
                        help="test-time flip: as the checkpoint's config says (default), or forced on/off")
    parser.add_argument("--shift-test", nargs="*", type=int, default=None, metavar="STEP",
                        help="test-time shift steps (each a 3x3 grid of shifts); without values: none; "
                             "default: as the checkpoint's config says")
    parser.add_argument("--real-only", action="store_true",
                        help="score only the real val and test images (a quick probe)")
    args = parser.parse_args()
    if args.shift_test and min(args.shift_test) < 1:
        parser.error(f"--shift-test steps must be >= 1, got {args.shift_test}")
    from evaluation import contest  # noqa: PLC0415
    from evaluation.baselines import fit_class_colours, shuffled_colours  # noqa: PLC0415
    from evaluation.judge import Judge  # noqa: PLC0415
    from evaluation.protocol import SYNTH_BENCH, load_split  # noqa: PLC0415
    from lsgen.data.dataset import DataConfig, LandscapeDataset  # noqa: PLC0415

    start = time.perf_counter()
    cfg = DataConfig(**{**SYNTH_BENCH.__dict__, "root": args.data})
    judge = Judge(args.judge, flip_test={"checkpoint": None, "on": True, "off": False}[args.flip_test],
                  shift_test=None if args.shift_test is None else tuple(args.shift_test))

    train, val, test = (load_split(cfg, s, progress=True) for s in ("train", "val", "test"))
    colours = fit_class_colours(LandscapeDataset(cfg, "train"))
    noise = np.random.default_rng(0).integers(0, 256, test.images.shape, dtype=np.uint8)
    sets = {"real val (held-out pairs)": (val.images, val.masks), "real test (ref-styled GT)": (test.images, test.masks),
            "class-colour painting": (painted(test.masks, colours), test.masks),
            "shuffled-colour painting": (painted(test.masks, shuffled_colours(colours)), test.masks),
            "uniform noise": (noise, test.masks)}
    if args.real_only:
        sets = {name: pair for name, pair in sets.items() if name.startswith("real")}
    print(f"judge {args.judge} ({judge.digest}), reference: {len(train.images)} train images, "
          f"size {judge.width}x{judge.height}, test-time flip {'on' if judge.flip_test else 'off'}, "
          f"shift steps {list(judge.shift_test) or 'none'}\n")
    print("| images | n | mask acc | mIoU | FD-seg vs train | KID-seg vs train |\n|---|---|---|---|---|---|")
    print("\n".join(table_rows(judge, sets, judge.features(train.images))))
    self_style = np.mean([contest.style_score(im, im) for im in test.images])
    ref_style = np.mean([contest.style_score(im, ref) for im, ref in zip(test.images, test.refs)])
    other_style = np.mean([contest.style_score(im, ref) for im, ref in zip(test.images, np.roll(test.refs, 1, 0))])
    print(f"\nstyle score: image vs itself {self_style:.4f}; GT vs its reference {ref_style:.4f}; "
          f"GT vs another mask's reference {other_style:.4f}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    run_cli(main)
