#!/usr/bin/env python
"""A picture of what a trained UNet does on validation masks: one row per mask,
columns mask | reference | sample with the reference | sample without it | real photo.

The reference of a row is another (training-split) photo, drawn with a fixed seed, as the contest
pairs a test mask with a training image. Writes one PNG (atomically) and prints the rows' names.

    python benchmarks/val_grid.py --checkpoint runs/i6/unet --data data/synth-bench --n 16 --out grid.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import positive_int, run_cli  # noqa: E402

GAP = 2  # pixels between cells


def grid_image(rows: list[list[np.ndarray]]) -> np.ndarray:
    """rows of equally sized (H, W, 3) uint8 cells -> one (R*(H+GAP), C*(W+GAP), 3) uint8 image."""
    h, w, _ = rows[0][0].shape
    out = np.full((len(rows) * (h + GAP), len(rows[0]) * (w + GAP), 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            out[r * (h + GAP):r * (h + GAP) + h, c * (w + GAP):c * (w + GAP) + w] = cell
    return out


def val_rows(checkpoint: str, data: str, n: int, steps: int, seed: int, batch: int) -> tuple[list[str], list[list[np.ndarray]]]:
    """(row names, rows of cells) for the first n val masks (training size of the checkpoint)."""
    from tqdm import tqdm  # noqa: PLC0415

    from diffusion.pipeline import LandscapePipeline, SampleOptions, resolve_checkpoint  # noqa: PLC0415
    from lsgen.data.classes import colorize  # noqa: PLC0415
    from lsgen.data.dataset import DataConfig, LandscapeDataset  # noqa: PLC0415
    from lsgen.data.io import from_model_image  # noqa: PLC0415

    pipe = LandscapePipeline.from_checkpoint(resolve_checkpoint(checkpoint, "unet.safetensors"))
    w, h = pipe.image_size
    val = LandscapeDataset(DataConfig(root=data, width=w, height=h), "val")
    train = LandscapeDataset(DataConfig(root=data, width=w, height=h), "train")
    n = min(n, len(val))
    ref_index = np.random.default_rng(seed).choice(len(train), size=n, replace=False)
    names, rows = [], []
    for start in tqdm(range(0, n, batch), desc="sampling", unit="batch"):
        idx = range(start, min(n, start + batch))
        items = [val.load(i) for i in idx]
        refs = np.stack([from_model_image(train.load(int(ref_index[i]))["image"]) for i in idx])
        masks = np.stack([it["mask_ids"] for it in items])
        opts = SampleOptions(steps=steps, seed=seed + start)
        with_ref = pipe.generate(masks, opts, refs)
        without_ref = pipe.generate(masks, SampleOptions(steps=steps, seed=seed + start, guidance_ref=0.0))
        for k, item in enumerate(items):
            names.append(val.names[idx[k]])
            rows.append([colorize(item["mask_ids"]), refs[k], with_ref[k], without_ref[k], from_model_image(item["image"])])
    return names, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--checkpoint", required=True, help="UNet checkpoint file or run directory")
    parser.add_argument("--data", required=True, help="dataset root with a val split")
    parser.add_argument("--out", required=True, help="output .png")
    parser.add_argument("--n", type=positive_int, default=16, help="val masks (rows)")
    parser.add_argument("--steps", type=positive_int, default=20, help="DPM-Solver++(2M) steps")
    parser.add_argument("--batch", type=positive_int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from PIL import Image  # noqa: PLC0415

    from lsgen.checkpoint import atomic_path  # noqa: PLC0415

    names, rows = val_rows(args.checkpoint, args.data, args.n, args.steps, args.seed, args.batch)
    with atomic_path(args.out) as tmp:
        Image.fromarray(grid_image(rows)).save(tmp, format="PNG")
    print(f"{args.out}: {len(rows)} rows (mask | reference | sample with ref | sample without ref | real): "
          + " ".join(names))


if __name__ == "__main__":
    run_cli(main)
