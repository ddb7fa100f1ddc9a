#!/usr/bin/env python
"""Print the GAN-baselines table of benchmarks/RESULTS.md from a gan_bench.sh run directory.

Usage: python benchmarks/gan_results.py [runs/gan-bench]
Per model: steps reached, CPU minutes (user+sys of every training segment, from /usr/bin/time -v),
and the evaluate.py scores of the checkpoint evaluated (plus the real-image ceiling row).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

MODELS = ("pix2pix", "spade", "apf")


def cpu_minutes(run: Path, model: str) -> float:
    total = 0.0
    for log in sorted(run.glob(f"{model}*.log")):
        text = log.read_text(errors="replace")
        for key in ("User time (seconds)", "System time (seconds)"):
            total += sum(float(v) for v in re.findall(rf"{re.escape(key)}: ([0-9.]+)", text))
    return total / 60


def fmt(value, pattern="{:.3f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def main() -> None:
    run = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/gan-bench")
    rows = json.loads((run / "eval" / "results.json").read_text())["rows"]
    print("| row | steps | CPU min | mask acc | mIoU | FD-seg | KID-seg | style | diversity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        model = next((m for m in MODELS if row["name"].startswith(m)), None)
        steps = row["name"].split("@")[-1] if model else "-"
        cpu = f"{cpu_minutes(run, model):.1f}" if model else "-"
        print(f"| {row['name']} | {steps} | {cpu} | {fmt(row['pixel_acc'])} | {fmt(row['miou'])} | "
              f"{fmt(row['fd_seg'])} | {fmt(row['kid_seg'], '{:.4f}')} | {fmt(row['style'])} | "
              f"{fmt(row['diversity'])} |")


if __name__ == "__main__":
    main()
