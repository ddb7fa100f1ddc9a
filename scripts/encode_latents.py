#!/usr/bin/env python
"""Cache a dataset's VAE posteriors (mean, log-variance; also of the horizontal flips) per split.

Writes <out>/<split>.safetensors for each --splits entry. Each file records the SHA-256 digest of
the VAE checkpoint, and loading it with another checkpoint is refused (vae.latents.load_latent_cache).
The image size defaults to the one the VAE was trained at (its checkpoint metadata).

Example:
    python scripts/encode_latents.py --vae runs/vae_small/vae.safetensors --data data/synth256 --out data/synth256/latents
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int, run_cli  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--vae", required=True, help="VAE checkpoint (vae.safetensors of a train_vae.py run)")
    parser.add_argument("--data", required=True, help="dataset root (contest 2022/2023 layout)")
    parser.add_argument("--out", required=True, help="folder for <split>.safetensors")
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=("train", "val"),
                        help="splits to encode (default: %(default)s)")
    parser.add_argument("--size", type=parse_size, help="WxH (default: the VAE's training size)")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="as in training (default: %(default)s)")
    parser.add_argument("--split-seed", type=int, default=0, help="as in training (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="default: %(default)s")
    parser.add_argument("--no-flip", action="store_true", help="do not also encode horizontal flips")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: %(default)s")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from lsgen.data.dataset import DataConfig  # noqa: PLC0415
    from lsgen.runtime import select_device  # noqa: PLC0415
    from vae.latents import encode_split, load_vae, write_latent_cache  # noqa: PLC0415
    from vae.train import ImageSplit  # noqa: PLC0415

    select_device(args.device)
    vae, meta = load_vae(args.vae)
    if args.size is None and "image_size" not in meta:
        raise ValueError(f"{args.vae}: no image_size in its metadata; pass --size WxH")
    width, height = args.size or meta["image_size"]
    data = DataConfig(root=args.data, width=width, height=height, val_fraction=args.val_fraction,
                      split_seed=args.split_seed, flip=False)
    for split in args.splits:
        dataset = ImageSplit(data, split)
        arrays = encode_split(vae, dataset, args.batch_size, flip=not args.no_flip, progress=not args.no_progress)
        path = Path(args.out) / f"{split}.safetensors"
        info = {"split": split, "image_size": [width, height], "data_root": str(args.data)}
        write_latent_cache(path, arrays, args.vae, dataset.names, info)
        print(f"wrote {path} ({len(dataset)} images, latents {tuple(arrays['mean'].shape[1:])})")


if __name__ == "__main__":
    run_cli(main)
