"""Shared machinery of the Jittor-vs-PyTorch benchmarks (unet_vs_torch.py, vae_vs_torch.py).

Timing protocol (JITTOR.md §4): warm-up calls first (they compile), then `rounds` rounds in which
every timed function runs once, the order rotating each round so that load from other processes
hits both frameworks alike; medians are reported. Jittor functions end with jt.sync_all(True).
Peak RSS is measured per framework in a child process (VmHWM, reset between tasks through
/proc/self/clear_refs), so one framework's memory never counts for the other.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_average() -> str:
    return "load average %.2f, %.2f, %.2f (1/5/15 min)" % os.getloadavg()


def timed_rounds(fns: dict, rounds: int, warmup: int = 2) -> dict[str, list[float]]:
    """{name: fn} -> {name: [seconds per call]}; warm-up calls first, then rotating rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names, times = list(fns), {n: [] for n in fns}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def matmul_gflops(jt, torch, n: int = 2048, reps: int = 5) -> dict[str, float]:
    """Best-of-framework fp32 n³ matmul GFLOP/s (median of reps each), measured now."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    ja, ta = jt.array(a), torch.from_numpy(a)

    def jt_mm():
        (ja @ ja).sync()

    def torch_mm():
        ta @ ta
    times = timed_rounds({"jittor": jt_mm, "torch": torch_mm}, reps, warmup=1)
    return {k: 2 * n**3 / np.median(v) / 1e9 for k, v in times.items()}


def reset_peak_rss() -> None:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_json(args: list[str], env: dict | None = None, timeout: int = 3600) -> dict:
    """Run `python <args>` and parse the last stdout line as JSON."""
    out = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    if out.returncode:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt_table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[c if isinstance(c, str) else f"{c:.3g}" if isinstance(c, float) else str(c) for c in r]
                        for r in rows]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("---" for _ in header) + "|")
    return "\n".join(lines)


def plain_path(fn):
    """fn run with lsgen.ops switched off: Jittor's own kernels (the code before the fused ops)."""
    from lsgen import ops  # noqa: PLC0415

    def run():
        ops.set_fast(False)
        try:
            return fn()
        finally:
            ops.set_fast(True)
    return run


def summarise(task: str, jt_s: dict[str, list[float]], torch_s: dict[str, list[float]], images: int, gflop: float,
              peak: float, rss: dict) -> list[list]:
    """Rows of the result table for one task: Jittor variants, every PyTorch variant, and each
    one's speed relative to the best PyTorch variant (best time / own time)."""
    rows = []
    best = min(float(np.median(v)) for v in torch_s.values())
    for name, samples in list(jt_s.items()) + list(torch_s.items()):
        med = float(np.median(samples))
        rate = gflop / med
        rows.append([task, name, med * 1e3, images / med, rate, rate / peak,
                     rss.get(name, float("nan")), best / med])
    return rows


TABLE_HEADER = ["task", "framework", "ms (median)", "img/s", "GFLOP/s", "of matmul", "peak RSS MiB",
                "speed vs best torch"]
