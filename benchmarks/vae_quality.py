#!/usr/bin/env python
"""Reconstruction quality of a trained VAE against the bicubic baseline at the same factor f.

For every image of a split (default: val, the split the trainer never saw): PSNR and SSIM of
decode(mode(encode(x))), of bicubic down by f then up, and of the linear patch PCA with as many
components per f x f patch as the VAE has latent channels (fitted on the first --pca-images train
images, as the trainer's patch path is; what a linear map keeps at the same compression), all on
uint8 RGB images. Prints a table.

Example:
    python benchmarks/vae_quality.py --vae runs/vae_small/vae.safetensors --data data/synth256
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int, run_cli  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--vae", required=True, help="VAE checkpoint (.safetensors)")
    parser.add_argument("--data", required=True, help="dataset root")
    parser.add_argument("--split", default="val", choices=("train", "val"), help="default: %(default)s")
    parser.add_argument("--size", type=parse_size, help="WxH (default: the VAE's training size)")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="as in training (default: %(default)s)")
    parser.add_argument("--limit", type=positive_int, help="first N images only (default: all)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="default: %(default)s")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: %(default)s")
    parser.add_argument("--weights", choices=("auto", "ema", "raw"), default="auto",
                        help="auto: EMA weights when the checkpoint has them (default: %(default)s)")
    parser.add_argument("--pca-images", type=int, default=256,
                        help="train images the PCA baseline is fitted on; 0: no PCA row (default: %(default)s)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args()
    if args.pca_images < 0:
        parser.error(f"--pca-images must be >= 0, got {args.pca_images}")
    return args


def evaluate(vae, dataset, factor: int, batch_size: int, limit: int | None, pca=None) -> dict:
    """Mean PSNR/SSIM of the VAE, of the bicubic round trip and (given a vae.patch_pca.PatchPCA) of
    the PCA round trip over the dataset's images."""
    from lsgen.data.io import from_model_image  # noqa: PLC0415
    from vae.latents import batches  # noqa: PLC0415
    from vae.metrics import bicubic_round_trip, psnr, ssim  # noqa: PLC0415
    from vae.patch_pca import pca_round_trip  # noqa: PLC0415
    from vae.train import reconstruct  # noqa: PLC0415

    methods = ("vae", "bicubic") + (("pca",) if pca is not None else ())
    scores = {f"{m}_{k}": [] for m in methods for k in ("psnr", "ssim")}
    for images in batches(dataset, batch_size, limit):
        linear = pca_round_trip(images, pca, factor) if pca is not None else [None] * len(images)
        for original, recon, projected in zip(images, reconstruct(vae, images, batch_size), linear):
            ref = from_model_image(original)
            outputs = {"vae": from_model_image(recon), "bicubic": bicubic_round_trip(ref, factor)}
            if pca is not None:
                outputs["pca"] = from_model_image(projected)
            for method, out in outputs.items():
                scores[f"{method}_psnr"].append(psnr(ref, out))
                scores[f"{method}_ssim"].append(ssim(ref, out))
    result = {k: float(np.mean(v)) for k, v in scores.items()}
    result["images"] = len(scores["vae_psnr"])
    return result


def table(result: dict, meta: dict, factor: int, channels: int) -> str:
    """Markdown table of the two methods and their difference."""
    latent_ratio = 3 * factor * factor / channels
    rows = [
        "| method | kept numbers per pixel | PSNR (dB) | SSIM |",
        "|---|---|---|---|",
        f"| VAE f={factor}, {channels} ch ({meta['weights']} weights, step {meta['step']}) | "
        f"1/{latent_ratio:g} of RGB | {result['vae_psnr']:.2f} | {result['vae_ssim']:.4f} |",
        f"| bicubic down x{factor}, up x{factor} | 1/{factor * factor} of RGB | {result['bicubic_psnr']:.2f} | "
        f"{result['bicubic_ssim']:.4f} |",
    ]
    if "pca_psnr" in result:
        rows.append(f"| linear patch PCA, {channels} components per {factor}x{factor} patch | 1/{latent_ratio:g} of RGB | "
                    f"{result['pca_psnr']:.2f} | {result['pca_ssim']:.4f} |")
    rows.append(f"| VAE - bicubic | | {result['vae_psnr'] - result['bicubic_psnr']:+.2f} | "
                f"{result['vae_ssim'] - result['bicubic_ssim']:+.4f} |")
    return "\n".join(rows)


def main() -> None:
    args = parse_args()
    from lsgen.data.dataset import DataConfig  # noqa: PLC0415
    from lsgen.runtime import select_device  # noqa: PLC0415
    from vae.latents import load_vae  # noqa: PLC0415
    from vae.train import ImageSplit  # noqa: PLC0415

    select_device(args.device)
    vae, meta = load_vae(args.vae, args.weights)
    if args.size is None and "image_size" not in meta:
        raise ValueError(f"{args.vae}: no image_size in its metadata; pass --size WxH")
    width, height = args.size or meta["image_size"]
    data = DataConfig(root=args.data, width=width, height=height, val_fraction=args.val_fraction, flip=False)
    dataset = ImageSplit(data, args.split)
    start = time.time()
    factor = vae.cfg.downsample_factor
    pca = None
    if args.pca_images > 0:
        from vae.patch_pca import fit_patch_pca  # noqa: PLC0415
        train = ImageSplit(data, "train")
        sample = np.stack([train.load(i)["image"] for i in range(min(args.pca_images, len(train)))])
        pca = fit_patch_pca(sample, factor, vae.cfg.latent_channels)
    result = evaluate(vae, dataset, factor, args.batch_size, args.limit, pca)
    print(f"{args.vae} on {args.data} {args.split} split, {result['images']} images at {width}x{height} "
          f"({time.time() - start:.0f} s)")
    print(table(result, meta, factor, vae.cfg.latent_channels))
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "vae": str(args.vae), "step": meta["step"],
                                               "size": [width, height], "factor": factor}, indent=1))


if __name__ == "__main__":
    run_cli(main)
