#!/usr/bin/env python
"""Does a LoRA trained on one style subset move generated images toward that subset's style?

The first --n test masks are sampled with the base UNet and with base + LoRA (same seeds; by
default with NO reference, the null reference, so that only the adapter can move the style;
--with-refs gives every mask its own test reference). Each set of images is compared with the
real images of the style subset (the filter recorded in the LoRA file by scripts/train_lora.py
--style-filter, or --style-filter) and of the other styles, all from the train split (first
--subset-limit of each):
    corr subset      mean contest histogram correlation ([-1, 1]) of an image with each subset image
    corr others      the same against the images of the other styles
    subset - others  > 0: closer to the subset's colours than to the rest's
    ΔLab mean        Euclidean distance (CIE Lab units) between the set's mean per-image Lab mean and
                     the subset's: 0 = the same average colour
    ΔLab std         the same for the per-image Lab standard deviations (contrast, colourfulness)
    mask acc         segmenter judge pixel accuracy against the masks (only with --judge)
Rows: held-out real images (val split) of the subset (the ceiling) and of the other styles, the
base UNet, and base + LoRA. "Moves toward the subset": LoRA's corr subset and subset - others
above the base's, its ΔLab below.

Example:
    python benchmarks/lora_style.py --checkpoint runs/i6/unet/unet.safetensors \\
        --lora runs/lora-dusk/lora.safetensors --n 32 --judge runs/segmenter-small/step0001600.safetensors
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import sampling_common as sc  # noqa: E402
from lsgen.cli import positive_int, run_cli  # noqa: E402

HEADER = ["images", "n", "corr subset", "corr others", "subset - others", "ΔLab mean", "ΔLab std", "mask acc"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--checkpoint", required=True, help="base UNet checkpoint file or run directory")
    parser.add_argument("--lora", required=True, help="LoRA adapter file (scripts/train_lora.py)")
    parser.add_argument("--style-filter", help="style subset, e.g. time_of_day=dusk (default: the LoRA's own)")
    parser.add_argument("--n", type=positive_int, default=32, help="test masks (default: %(default)s)")
    parser.add_argument("--subset-limit", type=positive_int, default=100,
                        help="real images per group (subset / others) (default: %(default)s)")
    parser.add_argument("--with-refs", action="store_true", help="sample with each mask's own test reference")
    parser.add_argument("--judge", help="segmenter checkpoint: adds the mask accuracy column")
    sc.add_common_args(parser)
    return parser.parse_args(argv)


def lora_filter(lora_path, given: str | None) -> str:
    """--style-filter, else the filter the adapter was trained with (its metadata)."""
    from lsgen.checkpoint import read_metadata  # noqa: PLC0415

    text = given or read_metadata(lora_path).get("style_filter", "")
    if not text:
        raise ValueError(f"{lora_path}: the adapter records no style filter; pass --style-filter")
    return text


def real_groups(cfg, text: str, limit: int) -> dict[str, np.ndarray]:
    """(N, H, W, 3) uint8 real photos: train split subset / others (the references of the scores)
    and val split subset / others (held-out rows), at most `limit` of each, in name order."""
    from lsgen.data.dataset import LandscapeDataset  # noqa: PLC0415
    from lsgen.data.style_filter import style_mask  # noqa: PLC0415

    groups = {}
    for split in ("train", "val"):
        dataset = LandscapeDataset(cfg, split)
        keep = style_mask(cfg.root, dataset.names, text, prefix="train")   # val items are train-folder pairs
        inside = [i for i, k in enumerate(keep) if k][:limit]
        outside = [i for i, k in enumerate(keep) if not k][:limit]
        groups[f"{split} subset"] = sc.read_images(dataset, inside)
        groups[f"{split} others"] = sc.read_images(dataset, outside)
    if not len(groups["train subset"]) or not len(groups["train others"]):
        raise ValueError(f"style filter {text!r}: the train split needs images inside and outside the subset")
    return groups


def lab_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 -> per-image CIE Lab means (N, 3) and standard deviations (N, 3)."""
    from lsgen.data.color import rgb_to_lab  # noqa: PLC0415

    labs = [rgb_to_lab(im).reshape(-1, 3) for im in images]
    return np.array([lab.mean(0) for lab in labs]), np.array([lab.std(0) for lab in labs])


def mean_correlation(images: np.ndarray, references: np.ndarray) -> float:
    """Mean contest histogram correlation over every (image, reference) pair."""
    return float(np.mean([sc.style_correlations(np.repeat(im[None], len(references), 0), references).mean()
                          for im in images]))


def colour_row(name: str, images: np.ndarray, groups: dict, subset_lab) -> dict:
    """Style scores of one image set against the train subset / others (None for an empty set)."""
    row = {"images": name, "n": len(images)}
    if not len(images):
        return {**row, **dict.fromkeys(("corr_subset", "corr_others", "difference", "dlab_mean", "dlab_std"))}
    means, stds = lab_statistics(images)
    row["corr_subset"] = mean_correlation(images, groups["train subset"])
    row["corr_others"] = mean_correlation(images, groups["train others"])
    row["difference"] = row["corr_subset"] - row["corr_others"]
    row["dlab_mean"] = float(np.linalg.norm(means.mean(0) - subset_lab[0].mean(0)))
    row["dlab_std"] = float(np.linalg.norm(stds.mean(0) - subset_lab[1].mean(0)))
    return row


def sample_base_and_lora(args, pipe, masks: np.ndarray, refs: np.ndarray | None, progress: bool):
    """(base images, base + LoRA images), each (n, H, W, 3) uint8, same options and seeds."""
    from controlnet.lora import load_lora  # noqa: PLC0415
    from diffusion.pipeline import SampleOptions, resolve_checkpoint  # noqa: PLC0415
    from lsgen.checkpoint import read_metadata  # noqa: PLC0415

    options = SampleOptions(sampler=args.sampler, steps=args.steps, guidance_mask=args.guidance_mask,
                            guidance_ref=args.guidance_ref, seed=args.seed)
    base, _ = sc.sample_masks(pipe, masks, refs, options, args.batch_size, progress, "base")
    load_lora(args.lora, pipe.unet, read_metadata(resolve_checkpoint(args.checkpoint, "unet.safetensors")))
    adapted, _ = sc.sample_masks(pipe, masks, refs, options, args.batch_size, progress, "base + LoRA")
    return base, adapted


def run(args: argparse.Namespace) -> dict:
    """Real groups, base and LoRA samples, their style rows; returns {"protocol", "rows"}."""
    from evaluation.protocol import load_split  # noqa: PLC0415

    sc.check_files(args.checkpoint, args.lora, args.judge, args.vae)
    progress, start = not args.no_progress, time.perf_counter()
    text = lora_filter(args.lora, args.style_filter)
    pipe, size = sc.load_pipeline(args.checkpoint, args.vae, args.size, args.device)
    cfg = sc.protocol_data(args.data, size)
    groups = real_groups(cfg, text, args.subset_limit)
    test = load_split(cfg, "test", args.n, progress)
    if args.with_refs and test.refs is None:
        raise ValueError(f"{args.data}: --with-refs needs test references (label_to_img.json)")
    base, adapted = sample_base_and_lora(args, pipe, test.masks, test.refs if args.with_refs else None, progress)
    subset_lab = lab_statistics(groups["train subset"])
    sets = {"real val, subset (ceiling)": groups["val subset"], "real val, other styles": groups["val others"],
            "base": base, "base + LoRA": adapted}
    rows = [colour_row(name, images, groups, subset_lab) for name, images in sets.items()]
    for row in rows:
        row["mask_acc"] = None
    if args.judge:
        from evaluation.judge import Judge  # noqa: PLC0415

        judge = Judge(args.judge, batch_size=args.batch_size)
        for row, images in zip(rows[2:], (base, adapted)):
            row["mask_acc"] = float(sc.judge_scores(judge, images, test.masks)[0].mean())
    protocol = {"checkpoint": str(args.checkpoint), "lora": str(args.lora), "style_filter": text,
                "data": str(args.data), "size": list(size), "masks": len(test.names), "with_refs": args.with_refs,
                "train_subset_images": len(groups["train subset"]), "train_other_images": len(groups["train others"]),
                "sampler": args.sampler, "steps": args.steps, "guidance_mask": args.guidance_mask,
                "guidance_ref": args.guidance_ref, "seed": args.seed, "seconds": time.perf_counter() - start}
    return {"protocol": protocol, "rows": rows}


def table_rows(rows: list[dict]) -> list[list]:
    keys = ["images", "n", "corr_subset", "corr_others", "difference", "dlab_mean", "dlab_std", "mask_acc"]
    return [["n/a" if row[k] is None else row[k] for k in keys] for row in rows]


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = run(args)
    p = result["protocol"]
    sc.print_table(f"LoRA style: {p['lora']} on {p['checkpoint']}, subset {p['style_filter']!r} "
                   f"({p['train_subset_images']} train images vs {p['train_other_images']} of other styles), "
                   f"{p['masks']} test masks {'with' if p['with_refs'] else 'without'} references, "
                   f"{p['sampler']} {p['steps']} steps, {p['seconds']:.0f} s", HEADER, table_rows(result["rows"]))
    sc.write_json(args.json, result)
    return result


if __name__ == "__main__":
    run_cli(main)
