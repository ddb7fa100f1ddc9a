#!/usr/bin/env python
"""Evaluate generator checkpoints (any registered kind) on a protocol's test masks with the segmenter
judge: writes <out>/results.json, <out>/report.html, and appends rows to benchmarks/RESULTS.md.

Example (synth-bench; the real test images are always scored as the ceiling row):
    python scripts/evaluate.py --judge runs/segmenter-small/step0001500.safetensors \\
        --out runs/eval-synth-bench runs/class-colour.safetensors
Rerunning reuses outputs whose checkpoint digest and seed match; FID only with --fid-weights.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import parse_size, positive_int, run_cli  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, help="generator checkpoints (.safetensors)")
    parser.add_argument("--judge", required=True, type=Path, help="segmenter checkpoint (scripts/train_segmenter.py)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (results.json, report.html, outputs/)")
    parser.add_argument("--data", help="dataset root (default: the synth-bench protocol's data/synth-bench)")
    parser.add_argument("--size", type=parse_size, help="WxH of the protocol (default: synth-bench's 128x96)")
    parser.add_argument("--limit", type=positive_int, help="evaluate the first N test masks only")
    parser.add_argument("--reference-limit", type=positive_int, help="first N train images as FD reference")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="default: %(default)s")
    parser.add_argument("--diversity-samples", type=int, default=0, help="K>=2 samples per mask for diversity (0: skip)")
    parser.add_argument("--fid-weights", type=Path, help="converted Inception weights (scripts/convert_fid_weights.py)")
    parser.add_argument("--aesthetic-scores", type=Path,
                        help='JSON {"row name": score in [0,1]} from an external aesthetic model')
    parser.add_argument("--results-md", type=Path, default=Path("benchmarks/RESULTS.md"),
                        help="table to append rows to (default: %(default)s)")
    parser.add_argument("--no-results-md", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args()


def read_aesthetic(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        scores = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: unreadable aesthetic scores ({err})") from err
    if not isinstance(scores, dict) or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in scores.values()):
        raise ValueError(f"{path}: expected an object of row name -> score in [0, 1]")
    return scores


def main() -> None:
    args = parse_args()
    for path in [args.judge, *args.checkpoints, *([args.fid_weights] if args.fid_weights else [])]:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found")
    aesthetic = read_aesthetic(args.aesthetic_scores)
    from evaluation.registry import check_registered  # noqa: PLC0415 - no Jittor, no generator import

    for path in args.checkpoints:
        check_registered(path)
    from lsgen.runtime import select_device  # noqa: PLC0415 - imports Jittor
    from evaluation import report  # noqa: PLC0415
    from evaluation.evaluate import EvalConfig, build_context, evaluate  # noqa: PLC0415
    from evaluation.protocol import SYNTH_BENCH  # noqa: PLC0415

    select_device(args.device)
    overrides = {"root": args.data} if args.data else {}
    if args.size:
        overrides.update(width=args.size[0], height=args.size[1])
    data = type(SYNTH_BENCH)(**{**SYNTH_BENCH.__dict__, **overrides})
    cfg = EvalConfig(data=data, limit=args.limit, reference_limit=args.reference_limit, seed=args.seed,
                     batch_size=args.batch_size, diversity_samples=args.diversity_samples)
    progress = not args.no_progress
    ctx = build_context(cfg, args.judge, args.fid_weights, aesthetic, progress)
    results, samples = evaluate(ctx, args.checkpoints, args.out, progress)
    report.write_results_json(args.out / "results.json", results)
    report.write_html(args.out / "report.html", results, samples, ctx.test.names, ctx.test.masks, ctx.test.refs)
    if not args.no_results_md:
        date = datetime.date.today().isoformat()
        report.append_results(args.results_md, [report.results_row(r, results["protocol"], date) for r in results["rows"]])
    for row in results["rows"]:
        print(report.results_row(row, results["protocol"], "-"))
    print(f"wrote {args.out / 'results.json'} and {args.out / 'report.html'}")


if __name__ == "__main__":
    run_cli(main)
