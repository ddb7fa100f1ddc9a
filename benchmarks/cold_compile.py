"""Cold start: what the UNet's first forward and first training step cost with an empty kernel cache.

    python benchmarks/cold_compile.py                         # UNet small, 48x64 latents, batch 4
    python benchmarks/cold_compile.py --config small --size 24x32x8 --variants plain fused

Jittor compiles every distinct kernel (op type x shapes x dtypes x fusion) the first time it runs
and caches it in `<cache>/jit/`. This benchmark makes a fresh Jittor cache through
Jittor's `cache_name` environment variable (JITTOR_HOME would be recorded in
~/.cache/jittor/config.json and leak into other processes), builds Jittor's core into it once
(setup's one-time cost, ~2 min, not what a first step pays; a copied core is not accepted, Jittor
rebuilds it), and for each variant empties its `jit/` kernel folder and times in a child process:
    forward         the UNet's first no-grad forward (kernels compiled on the way), then two more;
    train           the first full training step (ref encoder + UNet + MSE + backward + clip +
                    AdamW, as benchmarks/unet_vs_torch.py), then two more;
compile = first + second - 2 x third (the second call still compiles a few step-dependent
kernels, e.g. the optimizer's). The kernels column counts the compiled kernel libraries the child left
in its cache. Variants: `plain` = Jittor's own kernels (lsgen.ops off, the code before issue 11's
fused ops), `fused` = lsgen.ops on (the default), `fused+warmup` = fused after the kernel warm-up
that scripts/setup.sh runs (scripts/warmup.py: the VAE and UNet `small` configs' real training and
sampling code at a tiny size; its own time is the warm-up column, paid once at setup). The
temporary caches are deleted afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import bench_common as bc  # noqa: E402

# variant -> (LSGEN_FAST_OPS, run setup's kernel warm-up (scripts/warmup.py) before the timed child)
VARIANTS = {"plain": ("0", False), "fused": ("1", False), "fused+warmup": ("1", True)}


def current_cache() -> Path:
    """The Jittor cache directory this interpreter uses (…/<jittor path key>/<cache_name>)."""
    import jittor_utils  # noqa: PLC0415 - no Jittor core import, only its path logic

    return Path(jittor_utils.cache_path)


def make_cold_cache(source: Path, name: str) -> Path:
    """A sibling cache of `source` named `name` with Jittor's core built (no kernels yet)."""
    target = source.parent / name
    if target.exists():
        shutil.rmtree(target)
    # LSGEN_VERBOSE=1: with Jittor's log_silent on, the process building the core died silently here
    out = subprocess.run([sys.executable, "-c", "from lsgen.runtime import jt; print('core ready')"],
                         cwd=bc.REPO, capture_output=True, text=True, timeout=1800,
                         env={**os.environ, "cache_name": name, "LSGEN_VERBOSE": "1"})
    if "core ready" not in out.stdout:
        raise RuntimeError(f"building Jittor's core into {target} failed:\n{out.stderr[-2000:]}")
    empty_kernels(target)
    return target


def empty_kernels(cache: Path) -> None:
    """Delete every compiled kernel of `cache` (its jit/ folder), keeping Jittor's core."""
    shutil.rmtree(cache / "jit", ignore_errors=True)
    (cache / "jit").mkdir()


def count_kernels(cache: Path) -> int:
    return sum(1 for _ in (cache / "jit").glob("*.so"))


def child(config: str, size: str) -> dict:
    """Timings of the first and second forward and training step in this (cold) process."""
    from benchmarks.unet_vs_torch import JittorRunner, build_jittor, make_inputs, model_config, parse_size  # noqa: PLC0415

    start = time.perf_counter()
    from lsgen.runtime import jt  # noqa: PLC0415, F401
    seconds = {"import": time.perf_counter() - start}
    cfg = model_config(config)
    h, w, b = parse_size(size)
    start = time.perf_counter()
    runner = JittorRunner(build_jittor(cfg), make_inputs(cfg, h, w, b))
    seconds["build"] = time.perf_counter() - start
    for task in ("forward", "train"):
        for attempt in ("first", "second", "third"):
            start = time.perf_counter()
            getattr(runner, task)()
            seconds[f"{attempt}_{task}"] = time.perf_counter() - start
    return seconds


def run_variant(variant: str, config: str, size: str, cache: Path) -> dict:
    """Empty the kernels of `cache`, [warm up,] time the child; its timings and kernel counts."""
    empty_kernels(cache)
    fast, warm = VARIANTS[variant]
    env = {"cache_name": cache.name, "LSGEN_FAST_OPS": fast}
    result = {"warmup": 0.0, "warmup_kernels": 0}
    if warm:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, str(bc.REPO / "scripts" / "warmup.py")], cwd=bc.REPO,
                             capture_output=True, text=True, env={**os.environ, **env})
        if out.returncode:
            raise RuntimeError(f"warm-up failed:\n{out.stderr[-2000:]}")
        result.update(warmup=time.perf_counter() - start, warmup_kernels=count_kernels(cache))
    result.update(bc.child_json([__file__, "--child", "--config", config, "--size", size], env=env))
    result["kernels"] = count_kernels(cache) - result["warmup_kernels"]
    return result


def compile_seconds(s: dict, task: str) -> float:
    """Time of the first two calls beyond two steady ones (the second call still compiles a few
    step-dependent kernels, e.g. the optimizer's)."""
    return s[f"first_{task}"] + s[f"second_{task}"] - 2 * s[f"third_{task}"]


def table_row(variant: str, s: dict) -> list:
    forward, train = compile_seconds(s, "forward"), compile_seconds(s, "train")
    return [variant, f"{s['warmup']:.0f} ({s['warmup_kernels']})", s["first_forward"], s["third_forward"], forward,
            s["first_train"], s["second_train"], s["third_train"], train, forward + train, s["kernels"]]


HEADER = ["variant", "setup warm-up s (kernels)", "first forward s", "steady forward s", "forward compile s",
          "first train s", "second train s", "steady train s", "train compile s", "first-steps compile s",
          "kernels compiled by the child"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", help="configs/unet/<name>.json (default: small)")
    parser.add_argument("--size", default="48x64x4", help="latent HxWxBatch (default: 48x64x4)")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--json", type=Path, help="also write the timings here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.config, args.size)))
        return 0
    source = current_cache()
    print(f"# cold first step: UNet {args.config} at {args.size}, fresh caches beside {source}; "
          f"{bc.load_average()}", flush=True)
    results, cache = {}, make_cold_cache(source, f"cold-{os.getpid()}")
    try:
        for variant in args.variants:
            results[variant] = run_variant(variant, args.config, args.size, cache)
            print(f"{variant}: {json.dumps(results[variant])}; {bc.load_average()}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(bc.fmt_table(HEADER, [table_row(v, s) for v, s in results.items()]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
