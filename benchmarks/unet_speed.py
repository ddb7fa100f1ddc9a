#!/usr/bin/env python
"""UNet speed on this machine: training throughput and sampling latency per sampler and step count.

Prints a markdown table. Times are medians over --repeats after a warm-up (every op compiled),
with jt.sync_all(True) around each timed region (JITTOR.md §4). Sampling runs the full guided
denoise (mask + reference: 3 passes batched into one call) without the VAE decode.

    python benchmarks/unet_speed.py --config configs/unet/small.json --size 128x96 --batch 8
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from lsgen.cli import parse_size, positive_int  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Median seconds of fn() over `repeats` runs after one warm-up. The result is kept alive
    until the sync: Jittor drops pending ops whose outputs nobody holds, so timing a discarded
    lazy result would time nothing."""
    from lsgen.runtime import jt  # noqa: PLC0415

    result = fn()
    jt.sync_all(True)
    del result
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        if isinstance(result, jt.Var):
            result.sync()
        jt.sync_all(True)
        times.append(time.perf_counter() - start)
        del result
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/unet/small.json")
    parser.add_argument("--size", type=parse_size, default=(128, 96), help="image size WxH (latents = /8)")
    parser.add_argument("--batch", type=positive_int, default=8)
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--steps", type=positive_int, nargs="+", default=[10, 20, 50])
    args = parser.parse_args()
    from diffusion.guidance import guided_denoise_fn  # noqa: PLC0415
    from diffusion.pipeline import guidance_branches  # noqa: PLC0415
    from diffusion.samplers import SAMPLERS, make_timesteps, sample  # noqa: PLC0415
    from diffusion.schedule import NoiseSchedule  # noqa: PLC0415
    from diffusion.train import SECTIONS, denoising_loss  # noqa: PLC0415
    from diffusion.unet import UNet  # noqa: PLC0415
    from lsgen.config import load_config  # noqa: PLC0415
    from lsgen.runtime import jt, seed_everything  # noqa: PLC0415
    from lsgen.train.optim import Updater  # noqa: PLC0415

    seed_everything(0)
    cfg = load_config(args.config, SECTIONS)
    unet, schedule = UNet(cfg["model"]), NoiseSchedule(cfg["schedule"])
    (w, h), b = args.size, args.batch
    batch = {"latents": jt.randn(b, cfg["model"].in_channels, h // 8, w // 8),
             "mask_onehot": jt.array(np.eye(29, dtype=np.float32)[np.random.randint(0, 29, (b, h, w))].transpose(0, 3, 1, 2)),
             "ref_image": jt.rand(b, 3, h, w) * 2 - 1}
    updater = Updater(dict(unet.state_dict()), cfg["optim"], 1000)
    step = {"i": 0}

    def train_step():
        updater.backward(denoising_loss(unet, schedule, batch, cfg["cond"])["loss"])
        updater.apply(step["i"])
        step["i"] += 1

    train_s = timed(train_step, args.repeats)
    unet.eval()
    tokens, glob = unet.encode_ref(batch["ref_image"]) if cfg["model"].ref_dim else (None, None)
    branches = []
    for mask_on, ref_on, weight in guidance_branches(2.0, 1.0, tokens is not None):
        cond = {"mask_onehot": batch["mask_onehot"], "mask_keep": jt.full((b,), float(mask_on))}
        if tokens is not None:
            t2, g2 = (tokens, glob) if ref_on else unet.null_ref(b)
            cond.update(ref_tokens=t2, ref_global=g2)
        branches.append(cond)
    denoise = guided_denoise_fn(unet, branches, [w_ for *_, w_ in guidance_branches(2.0, 1.0, tokens is not None)])
    x = jt.randn(b, cfg["model"].in_channels, h // 8, w // 8)
    print(f"UNet {args.config} at {w}x{h} (latents {w // 8}x{h // 8}), batch {b}, "
          f"{sum(p.numel() for p in unet.parameters()) / 1e6:.2f}M params, load {os.getloadavg()[0]:.1f}")
    print("\n| measurement | median s | per image |\n|---|---|---|")
    print(f"| train step (loss, backward, AdamW) | {train_s:.3f} | {b / train_s:.2f} img/s |")
    with jt.no_grad():
        nfe = timed(lambda: denoise(x, 500), args.repeats)
        print(f"| one guided evaluation ({len(branches)} passes batched) | {nfe:.3f} | {nfe / b * 1000:.1f} ms |")
        for name in SAMPLERS:
            for steps in args.steps:
                ts = make_timesteps(schedule.num_steps, steps, "trailing")
                noise = lambda v: jt.randn(v.shape)  # noqa: E731
                total = timed(lambda: sample(name, denoise, schedule, x, ts, noise), 1)
                print(f"| sample {name}, {steps} steps | {total:.2f} | {total / b:.3f} s |")


if __name__ == "__main__":
    main()
