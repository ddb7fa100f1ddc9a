#!/usr/bin/env python
"""APF-GAN's post-training tools: weight averaging, FD-based checkpoint/seed selection, pure-class bank.

Subcommands:
    average  CKPT CKPT ... --out OUT            element-wise mean of checkpoints (same kind/config)
    select   CKPT ... --judge J --seeds N       rank (checkpoint, seed) pairs by FD-seg of samples of
                                                the VAL split's masks to the train images (never the
                                                test masks, which the report scores)
    pure-bank --checkpoint CKPT --out OUT       a "gan-pure" checkpoint: the generator + single-class
                                                training photos, for the separately reported row

Examples:
    python scripts/gan_tools.py average runs/apf/step0000400.safetensors runs/apf/step0000450.safetensors --out runs/apf/avg.safetensors
    python scripts/gan_tools.py select runs/apf/step*.safetensors --judge runs/judge.safetensors --seeds 5 --limit 100
    python scripts/gan_tools.py pure-bank --checkpoint runs/apf/avg.safetensors --data data/synth-bench --out runs/apf/pure.safetensors
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
    avg = sub.add_parser("average", help="average checkpoints")
    avg.add_argument("checkpoints", nargs="+", help="generator checkpoints of one run")
    avg.add_argument("--out", required=True, help="output checkpoint")
    sel = sub.add_parser("select", help="rank checkpoints x seeds by FD on the val split")
    sel.add_argument("checkpoints", nargs="+")
    sel.add_argument("--judge", required=True, help="segmenter checkpoint (scripts/train_segmenter.py)")
    sel.add_argument("--seeds", type=positive_int, default=1, help="seeds 0..N-1 per checkpoint (default 1)")
    sel.add_argument("--data", default="data/synth-bench", help="dataset root (default: %(default)s)")
    sel.add_argument("--size", type=parse_size, default=(128, 96), help="WxH (default 128x96)")
    sel.add_argument("--limit", type=positive_int, default=None, help="first N val masks")
    sel.add_argument("--reference-limit", type=positive_int, default=None, help="first N train images")
    sel.add_argument("--out", help="write the ranking as JSON here")
    pure = sub.add_parser("pure-bank", help="bundle a generator with single-class training photos")
    pure.add_argument("--checkpoint", required=True)
    pure.add_argument("--data", default="data/synth-bench", help="dataset root (default: %(default)s)")
    pure.add_argument("--size", type=parse_size, default=(128, 96), help="WxH (default 128x96)")
    pure.add_argument("--out", required=True)
    return parser


def data_config(root: str, size: tuple[int, int]):
    from evaluation.protocol import SYNTH_BENCH  # noqa: PLC0415
    from lsgen.data.dataset import DataConfig  # noqa: PLC0415

    return DataConfig(**{**SYNTH_BENCH.__dict__, "root": root, "width": size[0], "height": size[1], "flip": False})


def select(args) -> None:
    """Sample every (checkpoint, seed) on the val masks (ref = the val photo) and rank by FD-seg."""
    from evaluation.evaluate import sample_all  # noqa: PLC0415
    from evaluation.judge import Judge  # noqa: PLC0415
    from evaluation.protocol import ImageSet, load_split  # noqa: PLC0415
    from evaluation.selection import rank_by_fd  # noqa: PLC0415
    from gan.sample import load  # noqa: PLC0415

    cfg = data_config(args.data, args.size)
    judge = Judge(args.judge)
    val = load_split(cfg, "val", args.limit)
    masks_only = ImageSet(val.names, val.masks, None, val.images)
    reference = judge.features(load_split(cfg, "train", args.reference_limit).images)
    candidates = {}
    for path in args.checkpoints:
        sampler = load(path)
        for seed in range(args.seeds):
            candidates[f"{path}#seed{seed}"] = (lambda s=sampler, seed=seed:
                                                judge.features(sample_all(s, masks_only, seed, 16)))
    ranking = rank_by_fd(candidates, reference, progress=True)
    for r in ranking:
        print(f"{r.fd:10.4f}  {r.label}")
    if args.out:
        from lsgen.checkpoint import atomic_write_text  # noqa: PLC0415

        atomic_write_text(args.out, json.dumps([{"label": r.label, "fd_seg": r.fd} for r in ranking], indent=1))


def main() -> None:
    args = build_parser().parse_args()
    if args.command == "average":
        from gan.averaging import average_checkpoints  # noqa: PLC0415

        print(f"wrote {average_checkpoints(args.checkpoints, args.out)}")
    elif args.command == "select":
        select(args)
    else:
        from gan.pure import build_bank, save_pure  # noqa: PLC0415
        from lsgen.data.dataset import LandscapeDataset  # noqa: PLC0415

        bank = build_bank(LandscapeDataset(data_config(args.data, args.size), "train"))
        sizes = {c: len(p) for c, p in sorted(bank.items())}
        print(f"single-class training photos per class: {sizes or 'none (the step will change nothing)'}")
        print(f"wrote {save_pure(args.checkpoint, bank, args.out)}")


if __name__ == "__main__":
    run_cli(main)
