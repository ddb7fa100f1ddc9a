"""Training the denoising UNet on a VAE's cached latents, through lsgen's one training loop.

Loss (DDPM eq. 14, "simple"): || target(x0, ε, t) - UNet(x_t, t, mask) ||², t ~ U{0..T-1},
target = ε or v by the schedule config. The mask is dropped (mask_keep = 0) with probability
`cond.mask_dropout` so the same network is the unconditional model of classifier-free guidance.
The final weights are copied to `<run_dir>/unet.safetensors` with the VAE's path, digest and
latent scale in the metadata, so `LandscapePipeline.from_checkpoint(run_dir)` needs nothing else.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from diffusion.pipeline import KIND, LandscapePipeline, SampleOptions
from diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffusion.unet import UNet, UNetConfig
from lsgen import checkpoint as ckpt
from lsgen.config import to_dict
from lsgen.data.classes import colorize
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything, set_precision
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater
from vae.latents import LatentDataset

FINAL_NAME = "unet.safetensors"


@dataclass
class CondConfig:
    """The `cond` section: conditioning dropout for classifier-free guidance."""
    mask_dropout: float = 0.1

    def __post_init__(self):
        if not 0.0 <= self.mask_dropout < 1.0:
            raise ValueError(f"mask_dropout must be in [0, 1), got {self.mask_dropout}")


@dataclass
class LatentDataConfig:
    """The `data` section: the VAE checkpoint and its latent caches (scripts/encode_latents.py)."""
    vae: str = "runs/vae/vae.safetensors"
    train_cache: str = "runs/latents/train.safetensors"
    val_cache: str = ""                # optional: masks for training previews
    root: str = ""                     # dataset root override (default: the one recorded in the cache)


SECTIONS = {"model": UNetConfig, "schedule": ScheduleConfig, "cond": CondConfig, "optim": OptimConfig,
            "train": TrainConfig, "data": LatentDataConfig}


def denoising_loss(unet: UNet, schedule: NoiseSchedule, batch: dict, mask_dropout: float) -> dict:
    """One micro-batch's loss. batch: latents (B,C,h,w) scaled, mask_onehot (B,29,H,W)."""
    x0 = batch["latents"]
    b = x0.shape[0]
    t = jt.randint(0, schedule.num_steps, shape=(b,))
    noise = jt.randn_like(x0)
    keep = (jt.rand(b) >= mask_dropout).float32()
    output = unet(schedule.add_noise(x0, noise, t), t, mask_onehot=batch["mask_onehot"], mask_keep=keep)
    return {"loss": ((output - schedule.target(x0, noise, t)) ** 2).mean()}


def unet_metadata(data: LatentDataConfig, latent_scale: float, image_size) -> dict:
    return {"vae_path": str(Path(data.vae).resolve()), "vae_digest": ckpt.file_digest(data.vae),
            "latent_scale": latent_scale, "image_size": list(image_size)}


def make_task(sections: dict, dataset: LatentDataset, preview_masks: np.ndarray | None = None) -> TrainTask:
    model_cfg, sched_cfg, train_cfg = sections["model"], sections["schedule"], sections["train"]
    unet = UNet(model_cfg)
    schedule = NoiseSchedule(sched_cfg)
    updater = Updater(dict(unet.state_dict()), sections["optim"], train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="unet")

    def loss_fn(batch, step):
        return denoising_loss(unet, schedule, batch, sections["cond"].mask_dropout)

    def to_batch(arrays):
        return {"latents": jt.array(arrays["latents"]), "mask_onehot": jt.array(arrays["mask_onehot"])}

    meta = unet_metadata(sections["data"], dataset.scale, (dataset.width, dataset.height))
    preview = None
    if preview_masks is not None:
        def preview(step, run_dir):
            write_preview(unet, schedule, sections["data"], dataset.scale, preview_masks, run_dir / f"preview_{step:07d}.png")
    return TrainTask(kind=KIND, model=unet, phases=[Phase("unet", updater, loss_fn)], to_batch=to_batch,
                     model_config={"unet": to_dict(model_cfg), "schedule": to_dict(sched_cfg)},
                     preview=preview, extra_metadata=lambda: meta)


def write_preview(unet: UNet, schedule: NoiseSchedule, data: LatentDataConfig, scale: float,
                  masks: np.ndarray, path: Path) -> None:
    """Grid of (mask | sample) rows from the current (raw) weights, 20 DDIM steps."""
    from vae.latents import load_vae  # noqa: PLC0415

    unet.eval()
    vae, _ = load_vae(data.vae)
    pipe = LandscapePipeline(unet, schedule, vae, scale)
    images = pipe.generate(masks, SampleOptions(sampler="ddim", steps=20, guidance_mask=2.0))
    unet.train()
    rows = [np.concatenate([colorize(m), img], axis=1) for m, img in zip(masks, images)]
    ckpt.write_with(path, lambda tmp: Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format="PNG"))


def train(sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train a UNet on cached latents; returns `<run_dir>/unet.safetensors`."""
    train_cfg, data = sections["train"], sections["data"]
    set_precision(train_cfg.precision)
    seed_everything(train_cfg.seed)
    dataset = LatentDataset(data.train_cache, data.vae, data.root or None)
    check_latent_shape(sections["model"], dataset)
    preview_masks = None
    if data.val_cache and train_cfg.preview_every:
        val = LatentDataset(data.val_cache, data.vae, data.root or None)
        preview_masks = np.stack([val.load(i)["mask_ids"] for i in range(min(4, len(val)))])
    task = make_task(sections, dataset, preview_masks)
    loader = BatchLoader(dataset, train_cfg.batch_size, seed=train_cfg.seed)
    final = run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
    from lsgen.train import dist  # noqa: PLC0415

    if dist.is_main():
        ckpt.write_with(Path(run_dir) / FINAL_NAME, lambda tmp: shutil.copyfile(final, tmp))
    return Path(run_dir) / FINAL_NAME


def check_latent_shape(model: UNetConfig, dataset: LatentDataset) -> None:
    """The cache's latents must fit the UNet (channels, and sizes divisible by its downsampling)."""
    c, h, w = dataset.arrays["mean"].shape[1:]
    if c != model.in_channels:
        raise ValueError(f"latents have {c} channels but model.in_channels is {model.in_channels}")
    if h % model.downsampling or w % model.downsampling:
        raise ValueError(f"latents are {w}x{h}: not divisible by the UNet's downsampling {model.downsampling}")


