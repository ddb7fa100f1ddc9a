#!/usr/bin/env python
"""Train the SegFormer-style segmenter judge (evaluation/segmenter.py) on a dataset's train split.

Example (the synth-bench judge, ~30 CPU-minutes):
    python scripts/train_segmenter.py --config configs/segmenter/small.json --out runs/segmenter-small
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import add_training_args, resolve_config, run_cli  # noqa: E402
from lsgen.config import to_dict  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_args(parser, default_config="configs/segmenter/small.json")
    args = parser.parse_args()
    from evaluation.train_segmenter import SECTIONS, train_segmenter  # noqa: PLC0415 - imports Jittor

    sections = resolve_config(args, SECTIONS)
    if args.dry_run:
        print(json.dumps({k: to_dict(v) for k, v in sections.items()}, indent=1))
        return
    from lsgen.runtime import select_device  # noqa: PLC0415

    select_device(args.device)
    path = train_segmenter(sections, args.out, resume=args.resume, progress=not args.no_progress)
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
