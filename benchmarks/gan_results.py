#!/usr/bin/env python
"""Print the GAN tables of benchmarks/RESULTS.md: what each CPU budget bought, and the scores.

Usage: python benchmarks/gan_results.py RUN_ROOT [EVAL_DIR]
  RUN_ROOT: a benchmarks/gan_bench_all.sh (or gan_bench_cpu.sh) output folder: <run>/ and <run>.log per model.
  EVAL_DIR: a scripts/evaluate.py output folder (default RUN_ROOT/eval); its results.json gives the scores.
Training table: newest complete checkpoint (what the budget bought), CPU minutes (user+sys from
/usr/bin/time -v, compiler children included) and CPU seconds per update.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.report import cell  # noqa: E402 - light: no Jittor


def cpu_minutes(log: Path) -> float:
    text = log.read_text(errors="replace")
    return sum(float(v) for key in ("User time (seconds)", "System time (seconds)")
               for v in re.findall(rf"{re.escape(key)}: ([0-9.]+)", text)) / 60


def newest_step(run: Path) -> int:
    steps = [int(p.stem[4:]) for p in run.glob("step*.safetensors") if p.stem[4:].isdigit()]
    return max(steps, default=0)


def training_table(root: Path) -> None:
    print("| run | updates (newest checkpoint) | CPU min | CPU s / update |")
    print("|---|---|---|---|")
    for log in sorted(root.glob("*.log")):
        run = root / log.stem
        if not run.is_dir():
            continue
        steps, minutes = newest_step(run), cpu_minutes(log)
        per_step = f"{minutes * 60 / steps:.2f}" if steps else "n/a"
        print(f"| {log.stem} | {steps} | {minutes:.1f} | {per_step} |")


def scores_table(eval_dir: Path) -> None:
    rows = json.loads((eval_dir / "results.json").read_text())["rows"]
    print("| row | mask acc | boundary acc | mIoU | FD-seg | KID-seg | style | diversity |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [cell(row, "pixel_acc", "{:.3f}"), cell(row, "boundary_acc", "{:.3f}"), cell(row, "miou", "{:.3f}"),
                 cell(row, "fd_seg", "{:.2f}"), cell(row, "kid_seg"), cell(row, "style", "{:.3f}"),
                 cell(row, "diversity", "{:.3f}")]
        print(f"| {row['name']} | " + " | ".join(cells) + " |")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 else 2)
    root = Path(sys.argv[1])
    training_table(root)
    eval_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "eval"
    if (eval_dir / "results.json").is_file():
        print()
        scores_table(eval_dir)


if __name__ == "__main__":
    main()
