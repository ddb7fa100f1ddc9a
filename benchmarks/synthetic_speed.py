"""Speed of the built-in synthetic dataset generator, one process.

    python benchmarks/synthetic_speed.py [--n 40] [--sizes 128x96 256x192 512x384] [--seed 0]

Prints a table: per size, pairs/s for generation only (layout + style + render, in memory) and
for generation + JPEG/PNG encode + write (write_dataset, one worker), each as wall-clock rate and
as CPU-time rate (the latter is what one core sustains when the machine is shared).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from lsgen.data.synthetic import generate_pair, write_dataset


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) spent in fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(width: int, height: int, n: int, seed: int) -> dict:
    """Rates in pairs/s for one size: generation only, and generation + encode + write."""
    generate_pair(seed, 0, height, width)  # warm-up: imports, caches
    gen_wall, gen_cpu = _timed(lambda: [generate_pair(seed, i, height, width) for i in range(n)])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "synth"
        # n train pairs plus one test pair: count n + 1 written pairs
        write_wall, write_cpu = _timed(lambda: write_dataset(out, n, width, height, seed, n_test=1, progress=False))
    return {"gen_wall": n / gen_wall, "gen_cpu": n / gen_cpu,
            "write_wall": (n + 1) / write_wall, "write_cpu": (n + 1) / write_cpu}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="pairs per measurement (default 40)")
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(128, 96), (256, 192), (512, 384)],
                        help="WIDTHxHEIGHT sizes (default 128x96 256x192 512x384)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    columns = ("gen pairs/s", "gen (cpu)", "gen+write pairs/s", "gen+write (cpu)")
    header = f"{'size':>9} | " + " | ".join(columns)
    print(f"synthetic dataset speed, one process, n={args.n} pairs per cell")
    print(header)
    print("-" * len(header))
    for width, height in args.sizes:
        rates = measure(width, height, args.n, args.seed)
        cells = (rates["gen_wall"], rates["gen_cpu"], rates["write_wall"], rates["write_cpu"])
        print(f"{width:>4}x{height:<4} | " + " | ".join(f"{v:>{len(c)}.1f}" for v, c in zip(cells, columns)),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
