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
from diffusion.refs import REF_SOURCES, WithRefs, make_ref_source
from diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffusion.unet import UNet, UNetConfig
from lsgen import checkpoint as ckpt
from lsgen.config import to_dict
from lsgen.data.classes import colorize
from lsgen.data.io import from_model_image
from lsgen.data.loader import BatchLoader
from lsgen.data.style_filter import parse_style_filter, select_by_style
from lsgen.runtime import jt, seed_everything, set_precision
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater
from vae.latents import LatentDataset

FINAL_NAME = "unet.safetensors"


@dataclass
class CondConfig:
    """The `cond` section: independent mask/ref dropout for (dual) classifier-free guidance, and
    where training references come from (diffusion/refs.py; used when model.ref_dim > 0)."""
    mask_dropout: float = 0.1
    ref_dropout: float = 0.1
    ref_source: str = "auto"           # auto | style (synthetic pairs) | augment (view of the target)

    def __post_init__(self):
        for name in ("mask_dropout", "ref_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.ref_source not in REF_SOURCES:
            raise ValueError(f"ref_source must be one of {REF_SOURCES}, got {self.ref_source!r}")


@dataclass
class LatentDataConfig:
    """The `data` section: the VAE checkpoint and its latent caches (scripts/encode_latents.py)."""
    vae: str = "runs/vae/vae.safetensors"
    train_cache: str = "runs/latents/train.safetensors"
    val_cache: str = ""                # optional: masks for training previews
    root: str = ""                     # dataset root override (default: the one recorded in the cache)
    style_filter: str = ""             # train on one style subset only, e.g. "time_of_day=dusk" (styles.json)

    def __post_init__(self):
        if self.style_filter:
            parse_style_filter(self.style_filter)   # a malformed filter fails with the config


SECTIONS = {"model": UNetConfig, "schedule": ScheduleConfig, "cond": CondConfig, "optim": OptimConfig,
            "train": TrainConfig, "data": LatentDataConfig}


def denoising_loss(unet: UNet, schedule: NoiseSchedule, batch: dict, cond: CondConfig, control_fn=None) -> dict:
    """One micro-batch's loss. batch: latents (B,C,h,w) scaled, mask_onehot (B,29,H,W), and
    ref_image (B,3,H,W) in [-1,1] when the UNet has a reference route. Mask and reference are
    dropped independently, so ε(∅,∅), ε(m,∅) and ε(m,r) are all learned. control_fn(x_t, t, batch,
    **conditioning) -> ControlNet residuals, for adapter training on a frozen UNet."""
    x0 = batch["latents"]
    b = x0.shape[0]
    t = jt.randint(0, schedule.num_steps, shape=(b,))
    noise = jt.randn_like(x0)
    conditioning = {"mask_onehot": batch["mask_onehot"], "mask_keep": (jt.rand(b) >= cond.mask_dropout).float32()}
    if unet.ref_encoder is not None:
        ref_keep = (jt.rand(b) >= cond.ref_dropout).float32()
        conditioning["ref_tokens"], conditioning["ref_global"] = unet.encode_ref(batch["ref_image"], ref_keep)
    x_t = schedule.add_noise(x0, noise, t)
    control = control_fn(x_t, t, batch, **conditioning) if control_fn is not None else None
    output = unet(x_t, t, control=control, **conditioning)
    return {"loss": ((output - schedule.target(x0, noise, t)) ** 2).mean()}


def unet_metadata(data: LatentDataConfig, latent_scale: float, image_size) -> dict:
    return {"vae_path": str(Path(data.vae).resolve()), "vae_digest": ckpt.file_digest(data.vae),
            "latent_scale": latent_scale, "image_size": list(image_size)}


def make_task(sections: dict, dataset, preview_samples: dict | None = None) -> TrainTask:
    """The UNet's TrainTask; `dataset` is a LatentDataset, or one wrapped by WithRefs."""
    model_cfg, sched_cfg, train_cfg = sections["model"], sections["schedule"], sections["train"]
    unet = UNet(model_cfg)
    schedule = NoiseSchedule(sched_cfg)
    updater = Updater(dict(unet.state_dict()), sections["optim"], train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="unet")
    latents = getattr(dataset, "dataset", dataset)

    def loss_fn(batch, step):
        return denoising_loss(unet, schedule, batch, sections["cond"])

    def to_batch(arrays):
        return {k: jt.array(arrays[k]) for k in ("latents", "mask_onehot", "ref_image") if k in arrays}

    meta = unet_metadata(sections["data"], latents.scale, (latents.width, latents.height))
    preview = None
    if preview_samples is not None:
        def preview(step, run_dir):
            write_preview(unet, schedule, sections["data"], latents.scale, preview_samples,
                          run_dir / f"preview_{step:07d}.png")
    return TrainTask(kind=KIND, model=unet, phases=[Phase("unet", updater, loss_fn)], to_batch=to_batch,
                     model_config={"unet": to_dict(model_cfg), "schedule": to_dict(sched_cfg)},
                     preview=preview, extra_metadata=lambda: meta)


def write_preview(unet: UNet, schedule: NoiseSchedule, data: LatentDataConfig, scale: float,
                  samples: dict, path: Path) -> None:
    """Grid of (mask | [ref |] sample) rows from the current (raw) weights, 20 DDIM steps.
    samples: mask_ids (B,H,W) and, for a reference route, ref_images (B,H,W,3) uint8."""
    from vae.latents import load_vae  # noqa: PLC0415

    unet.eval()
    vae, _ = load_vae(data.vae)
    pipe = LandscapePipeline(unet, schedule, vae, scale)
    refs = samples.get("ref_images")
    images = pipe.generate(samples["mask_ids"], SampleOptions(sampler="ddim", steps=20, guidance_mask=2.0), refs)
    unet.train()
    columns = [[colorize(m) for m in samples["mask_ids"]]] + ([list(refs)] if refs is not None else []) + [list(images)]
    rows = [np.concatenate(row, axis=1) for row in zip(*columns)]
    ckpt.write_with(path, lambda tmp: Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format="PNG"))


def training_datasets(sections: dict):
    """(train dataset, preview samples or None): cached latents (only the style subset
    `data.style_filter` when set), with references when the UNet has a reference route."""
    data, model, cond = sections["data"], sections["model"], sections["cond"]
    train_set = LatentDataset(data.train_cache, data.vae, data.root or None)
    check_latent_shape(model, train_set)
    if data.style_filter:
        root = data.root or train_set.meta["data_root"]
        train_set = train_set.subset(select_by_style(root, train_set.meta["names"], data.style_filter))
    source = None
    if model.ref_dim:
        root = data.root or train_set.meta["data_root"]
        source = make_ref_source(cond.ref_source, root, train_set.width, train_set.height)
        train_set = WithRefs(train_set, train_set.meta["names"], source)
    if not (data.val_cache and sections["train"].preview_every):
        return train_set, None
    val = LatentDataset(data.val_cache, data.vae, data.root or None)
    if source is not None:
        val = WithRefs(val, val.meta["names"], source)
    picked = [val.load(i) for i in range(min(4, len(val)))]
    preview = {"mask_ids": np.stack([p["mask_ids"] for p in picked])}
    if source is not None:
        preview["ref_images"] = np.stack([from_model_image(p["ref_image"]) for p in picked])
    return train_set, preview


def train(sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train a UNet on cached latents; returns `<run_dir>/unet.safetensors`."""
    from lsgen.train import dist  # noqa: PLC0415

    train_cfg = sections["train"]
    set_precision(train_cfg.precision)
    seed_everything(train_cfg.seed)
    dataset, preview = training_datasets(sections)
    task = make_task(sections, dataset, preview)
    loader = BatchLoader(dataset, train_cfg.batch_size, seed=train_cfg.seed)
    final = run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
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


