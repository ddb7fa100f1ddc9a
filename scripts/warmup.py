#!/usr/bin/env python
"""Compile the project's Jittor kernels once, so that the first real training step does not.

Jittor compiles every distinct kernel the first time it runs and caches it in ~/.cache/jittor.
Its kernels take tensor sizes as run-time arguments (the cache key holds the op graph, dtypes and
ranks, not the sizes), so running each model's real code once at a tiny size compiles most of
what the same model needs at any size. `scripts/setup.sh` runs this after building Jittor's core.

What runs, for each pair of named configs (configs/vae/<name>.json, configs/unet/<name>.json) at a
tiny size (`small`, what users train, and `quick`, what the main job trains, by default):
    vae     two training updates of vae.train's task (loss, backward, clip, AdamW, EMA) and a
            reconstruction (encode, decode);
    unet    two training updates of diffusion.train's denoising loss (mask and reference dropout,
            AdamW, EMA) and two guided DPM-Solver++ steps through LandscapePipeline.generate
            (mask + reference guidance, the VAE decoding the result).

    python scripts/warmup.py                            # pairs small/small and quick/quick
    python scripts/warmup.py --vae tiny --unet tiny
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsgen.cli import run_cli  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BATCH = 2          # batch 1 would compile other broadcast kernels than every real batch


def config_path(model: str, name: str) -> Path:
    path = REPO / "configs" / model / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config")
    return path


def train_updates(task, batch: dict, updates: int = 2) -> None:
    """`updates` optimizer steps of every phase of a TrainTask on one batch, plus EMA updates."""
    from lsgen.runtime import jt  # noqa: PLC0415
    from lsgen.train.ema import EMA  # noqa: PLC0415

    ema = EMA(task.model, 0.99)
    for step in range(updates):
        for phase in task.phases:
            if phase.active(step):
                phase.updater.backward(phase.loss_fn(dict(batch), step)["loss"])
                phase.updater.apply(step)
        ema.update(task.model)
    jt.sync_all(True)  # lazy graph: execute it once, so every kernel is compiled now, not at first real use


def warm_vae(name: str, rng: np.random.Generator):
    """Two VAE updates at its smallest valid crop and a reconstruction; returns the VAE."""
    from lsgen.config import load_config  # noqa: PLC0415
    from lsgen.runtime import jt  # noqa: PLC0415
    from vae.train import SECTIONS, make_task, reconstruct  # noqa: PLC0415

    sections = load_config(config_path("vae", name), SECTIONS, ["recipe.crop_width=0", "recipe.crop_height=0"])
    side = 4 * sections["model"].downsample_factor
    images = rng.uniform(-1, 1, (BATCH, sections["model"].in_channels, side, side)).astype(np.float32)
    task = make_task(sections)
    train_updates(task, {"image": jt.array(images)})
    task.model.eval()
    reconstruct(task.model, images, batch_size=BATCH)
    return task.model


def warm_unet(name: str, vae, rng: np.random.Generator) -> None:
    """Two UNet updates on latents of the VAE's factor and a guided sampling with mask and reference."""
    from diffusion.pipeline import LandscapePipeline, SampleOptions  # noqa: PLC0415
    from diffusion.schedule import NoiseSchedule  # noqa: PLC0415
    from diffusion.train import SECTIONS, denoising_loss  # noqa: PLC0415
    from diffusion.unet import UNet  # noqa: PLC0415
    from lsgen.config import load_config  # noqa: PLC0415
    from lsgen.data.classes import NUM_CLASSES  # noqa: PLC0415
    from lsgen.runtime import jt  # noqa: PLC0415
    from lsgen.train.loop import Phase, TrainTask  # noqa: PLC0415
    from lsgen.train.optim import Updater  # noqa: PLC0415

    sections = load_config(config_path("unet", name), SECTIONS)
    cfg, factor = sections["model"], vae.cfg.downsample_factor
    side = 8                                   # latent side: two UNet downsamplings and attention still fit
    unet, schedule = UNet(cfg), NoiseSchedule(sections["schedule"])
    updater = Updater(dict(unet.state_dict()), sections["optim"], 10, name="unet")
    mask_ids = rng.integers(0, NUM_CLASSES, (BATCH, side * factor, side * factor))
    batch = {"latents": jt.array(rng.standard_normal((BATCH, cfg.in_channels, side, side)).astype(np.float32)),
             "mask_onehot": jt.array(np.eye(NUM_CLASSES, dtype=np.float32)[mask_ids].transpose(0, 3, 1, 2)),
             "ref_image": jt.array(rng.uniform(-1, 1, (BATCH, 3, side * factor, side * factor)).astype(np.float32))}
    task = TrainTask(kind="unet", model=unet, model_config=cfg,
                     phases=[Phase("unet", updater, lambda b, s: denoising_loss(unet, schedule, b, sections["cond"]))])
    train_updates(task, batch)
    unet.eval()
    refs = rng.integers(0, 256, (BATCH, side * factor, side * factor, 3), dtype=np.uint8)
    pipe = LandscapePipeline(unet, schedule, vae, latent_scale=1.0)
    pipe.generate(mask_ids, SampleOptions(steps=2), refs if cfg.ref_dim else None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", nargs="+", default=["small", "quick"],
                        help="configs/vae/<name>.json (default: %(default)s)")
    parser.add_argument("--unet", nargs="+", default=["small", "quick"],
                        help="configs/unet/<name>.json, one per --vae: the UNet samples through it (default: %(default)s)")
    args = parser.parse_args(argv)
    if len(args.vae) != len(args.unet):
        raise ValueError(f"--vae names {len(args.vae)} configs, --unet {len(args.unet)}: give one UNet per VAE")
    for vae_name, unet_name in zip(args.vae, args.unet):   # fail before compiling anything
        config_path("vae", vae_name), config_path("unet", unet_name)
    rng = np.random.default_rng(0)
    for vae_name, unet_name in zip(args.vae, args.unet):
        start = time.perf_counter()
        vae = warm_vae(vae_name, rng)
        print(f"warm-up: vae {vae_name} compiled in {time.perf_counter() - start:.0f} s", flush=True)
        start = time.perf_counter()
        warm_unet(unet_name, vae, rng)
        print(f"warm-up: unet {unet_name} compiled in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
