#!/usr/bin/env python
"""Sample quality versus the number of network evaluations (NFE), per sampler, for one UNet.

For the first --n test masks of a synthetic dataset (with their references, fixed seeds), every
sampler of --samplers at every step count of --steps samples all masks; each set is scored as
scripts/evaluate.py scores a row (evaluation.evaluate.score_row, the same judge and metrics):
    mask acc, mIoU    segmenter judge against the masks (mask acc = the contest's mask_acc)
    FD-seg, KID-seg   Fréchet distance / KID of the judge's pooled features against the reference
                      set (--fd-reference): 'train' = the first --reference-limit train images, as
                      scripts/evaluate.py; 'test' = the real test images of the same masks
    style corr        contest histogram correlation with each mask's reference, in [-1, 1]
    s/img             wall seconds per image of sampling + VAE decode, after a warm-up call per
                      sampler (so no kernel compile is timed)
One step is one network evaluation (the guidance passes run batched in one call): NFE = steps.
The real test images give the ceiling row. Last line: per sampler, the smallest step count whose
mask acc and FD-seg are both within 3% of the reference row (ddim at the largest step count).
FD-seg depends on n and on the reference set: compare rows of one run only.

Example:
    python benchmarks/sampler_quality.py --checkpoint runs/i6/unet/unet.safetensors \\
        --judge runs/segmenter-small/step0001600.safetensors --n 64 --steps 5 10 20 50 100 --json out.json
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import sampling_common as sc  # noqa: E402
from lsgen.cli import positive_int, run_cli  # noqa: E402

HEADER = ["sampler", "steps (NFE)", "mask acc", "mIoU", "FD-seg", "KID-seg", "style corr", "s/img"]
TOLERANCE = 0.03


def parse_args(argv=None) -> argparse.Namespace:
    from diffusion.samplers import SAMPLERS  # noqa: PLC0415 - numpy only

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--checkpoint", required=True, help="UNet checkpoint file or run directory")
    parser.add_argument("--judge", required=True, help=f"segmenter checkpoint (e.g. {sc.DEFAULT_JUDGE})")
    parser.add_argument("--n", type=positive_int, default=64, help="test masks (default: %(default)s)")
    parser.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=["ddim", "dpm++2m", "ddpm"],
                        help="default: %(default)s")
    parser.add_argument("--steps", nargs="+", type=positive_int, default=[5, 10, 20, 50],
                        help="step counts = NFE (default: %(default)s)")
    parser.add_argument("--fd-reference", choices=("train", "test"), default="train",
                        help="FD-seg/KID-seg reference images (default: %(default)s, as scripts/evaluate.py)")
    parser.add_argument("--reference-limit", type=positive_int, default=1000,
                        help="first N train images as the FD reference (default: %(default)s)")
    sc.add_common_args(parser, sampler=False)
    return parser.parse_args(argv)


def build_context(args, size, progress: bool):
    """evaluation.evaluate's Context: judge, the first n test masks, the FD reference features."""
    from evaluation.evaluate import Context, EvalConfig  # noqa: PLC0415
    from evaluation.evaluate import build_context as eval_context  # noqa: PLC0415
    from evaluation.judge import Judge  # noqa: PLC0415
    from evaluation.protocol import load_split  # noqa: PLC0415

    cfg = EvalConfig(data=sc.protocol_data(args.data, size), limit=args.n, reference_limit=args.reference_limit,
                     seed=args.seed, batch_size=args.batch_size)
    if args.fd_reference == "train":
        return eval_context(cfg, args.judge, progress=progress)
    judge, test = Judge(args.judge, batch_size=args.batch_size), load_split(cfg.data, "test", args.n, progress)
    if test.images is None or test.refs is None:
        raise ValueError(f"{args.data}: the test masks need ground truth (test/imgs) and references")
    return Context(cfg, judge, test, judge.features(test.images, progress, "reference"))


def warm_up(pipe, test, options, batch_size: int) -> None:
    """One 3-step call on the first batch: compiles the UNet, the sampler's ops and the decoder."""
    b = min(batch_size, len(test.masks))
    pipe.generate(test.masks[:b], replace(options, steps=3), None if test.refs is None else test.refs[:b])


def run(args: argparse.Namespace) -> dict:
    """Every (sampler, steps) row plus the real row; returns {"protocol", "rows", "within_3pct"}."""
    from diffusion.pipeline import SampleOptions  # noqa: PLC0415 - imports Jittor
    from evaluation.evaluate import score_row  # noqa: PLC0415

    sc.check_files(args.checkpoint, args.judge, args.vae)
    progress = not args.no_progress
    pipe, size = sc.load_pipeline(args.checkpoint, args.vae, args.size, args.device)
    ctx = build_context(args, size, progress)
    if ctx.test.refs is None:
        raise ValueError(f"{args.data}: the test masks have no references (label_to_img.json)")
    rows = [{**score_row(ctx, "real", ctx.test.images), "sampler": "real", "steps": None, "seconds_per_image": None}]
    for sampler in args.samplers:
        base = SampleOptions(sampler=sampler, guidance_mask=args.guidance_mask, guidance_ref=args.guidance_ref,
                             seed=args.seed)
        warm_up(pipe, ctx.test, base, args.batch_size)
        for steps in sorted(set(args.steps)):
            options = replace(base, steps=steps)
            images, seconds = sc.sample_masks(pipe, ctx.test.masks, ctx.test.refs, options, args.batch_size,
                                              progress, f"{sampler} {steps}")
            row = score_row(ctx, f"{sampler}-{steps}", images)
            rows.append({**row, "sampler": sampler, "steps": steps, "seconds_per_image": seconds / len(images)})
    protocol = {"checkpoint": str(args.checkpoint), "data": str(args.data), "size": list(size),
                "masks": len(ctx.test.names), "fd_reference": args.fd_reference,
                "reference_images": len(ctx.ref_features), "guidance_mask": args.guidance_mask,
                "guidance_ref": args.guidance_ref, "seed": args.seed, "judge": str(args.judge),
                "judge_digest": ctx.judge.digest}
    return {"protocol": protocol, "rows": rows, "within_3pct": smallest_within(rows[1:], TOLERANCE)}


def smallest_within(rows: list[dict], tolerance: float) -> dict:
    """{"reference": "ddim-S", sampler: smallest steps whose pixel_acc >= (1 - tol) * reference's and
    fd_seg <= (1 + tol) * reference's, or None}; the reference is ddim (else the first sampler) at
    its largest step count."""
    name = "ddim" if any(r["sampler"] == "ddim" for r in rows) else rows[0]["sampler"]
    ref = max((r for r in rows if r["sampler"] == name), key=lambda r: r["steps"])

    def close(r):
        return r["pixel_acc"] >= (1 - tolerance) * ref["pixel_acc"] and r["fd_seg"] <= (1 + tolerance) * ref["fd_seg"]

    found = {"reference": ref["name"]}
    for sampler in dict.fromkeys(r["sampler"] for r in rows):
        ok = [r["steps"] for r in rows if r["sampler"] == sampler and close(r)]
        found[sampler] = min(ok) if ok else None
    return found


def table_rows(rows: list[dict]) -> list[list]:
    def cell(value):
        return "n/a" if value is None else value
    return [[r["sampler"], cell(r["steps"]), r["pixel_acc"], r["miou"], r["fd_seg"], r["kid_seg"],
             cell(r["style_corr"]), cell(r["seconds_per_image"])] for r in rows]


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = run(args)
    p = result["protocol"]
    sc.print_table(f"sampler quality: {p['checkpoint']}, {p['masks']} test masks, FD reference {p['fd_reference']} "
                   f"({p['reference_images']} images), s_mask {p['guidance_mask']}, s_ref {p['guidance_ref']}, "
                   f"judge {Path(p['judge']).name}", HEADER, table_rows(result["rows"]))
    within = dict(result["within_3pct"])
    reference = within.pop("reference")
    print(f"\nsmallest steps within {TOLERANCE:.0%} of {reference} (mask acc and FD-seg): "
          + ", ".join(f"{s} {'none' if v is None else v}" for s, v in within.items()))
    sc.write_json(args.json, result)
    return result


if __name__ == "__main__":
    run_cli(main)
