"""The mask (+ reference) -> image pipeline shared by scripts/sample.py, previews and evaluation.

mask_ids (B, H, W) int in 0..28 -> one-hot -> latents x_T ~ N(0, I) of shape (B, C, H/f, W/f) ->
sampler over a guided denoise_fn -> latents / latent_scale -> VAE decode -> images uint8.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffusion.guidance import cfg_weights, guided_denoise_fn
from diffusion.samplers import SAMPLERS, make_timesteps, sample
from diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffusion.unet import UNet, UNetConfig
from lsgen import checkpoint as ckpt
from lsgen.config import from_dict
from lsgen.data.io import DataError, from_model_image, onehot
from lsgen.runtime import jt
from vae.latents import load_vae

KIND = "unet"


@dataclass
class SampleOptions:
    sampler: str = "dpm++2m"
    steps: int = 20
    spacing: str = "trailing"
    guidance_mask: float = 2.0         # classifier-free guidance scale on the mask (1 = none)
    eta: float = 0.0                   # DDIM stochasticity
    seed: int = 0

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


def unet_configs(meta: dict) -> tuple[UNetConfig, ScheduleConfig]:
    """The UNet and schedule configs stored in a UNet checkpoint's metadata."""
    cfg = meta["config"]
    return from_dict(UNetConfig, cfg["unet"], "unet."), from_dict(ScheduleConfig, cfg["schedule"], "schedule.")


def load_unet(path: str | Path) -> tuple[UNet, dict]:
    """Rebuild a UNet from its checkpoint alone (EMA weights when present), in eval mode."""
    path = resolve_checkpoint(path, "unet.safetensors")
    meta = ckpt.read_metadata(path)
    unet = UNet(unet_configs(meta)[0])
    names = ckpt.read_arrays(path).keys()
    ckpt.load_weights(unet, path, kind=KIND, prefix="ema." if any(k.startswith("ema.") for k in names) else "")
    unet.eval()
    return unet, meta


def resolve_checkpoint(path: str | Path, final_name: str) -> Path:
    """A checkpoint file, or a run directory (its final file, else its latest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        if (path / final_name).is_file():
            return path / final_name
        latest = ckpt.read_latest(path)
        if latest is None:
            raise ckpt.CheckpointError(f"{path}: no checkpoint in this run directory")
        return path / f"{latest}.safetensors"
    return path


class LandscapePipeline:
    """UNet + schedule + VAE, rebuilt from checkpoints; `generate` is the one sampling entry point."""

    def __init__(self, unet: UNet, schedule: NoiseSchedule, vae, latent_scale: float, image_size=None):
        self.unet, self.schedule, self.vae, self.latent_scale = unet, schedule, vae, latent_scale
        self.image_size = image_size   # (W, H) the UNet was trained at, when known
        self.factor = vae.cfg.downsample_factor
        self.latent_channels = unet.cfg.in_channels

    @classmethod
    def from_checkpoint(cls, unet_path: str | Path, vae_path: str | Path | None = None) -> "LandscapePipeline":
        unet, meta = load_unet(unet_path)
        vae_file = Path(vae_path or meta["vae_path"])
        vae, vae_meta = load_vae(vae_file)
        if vae_meta.get("latent_scale") is None:
            raise ckpt.CheckpointError(f"{vae_file}: VAE has no latent_scale (training unfinished)")
        size = tuple(json.loads(meta["image_size"])) if "image_size" in meta else None
        return cls(unet, NoiseSchedule(unet_configs(meta)[1]), vae, float(vae_meta["latent_scale"]), size)

    def check_mask(self, mask_ids: np.ndarray) -> None:
        h, w = mask_ids.shape[-2:]
        if h % (self.factor * self.unet.cfg.downsampling) or w % (self.factor * self.unet.cfg.downsampling):
            multiple = self.factor * self.unet.cfg.downsampling
            raise DataError(f"mask is {w}x{h}; width and height must be multiples of {multiple} for this model")

    def generate(self, mask_ids: np.ndarray, options: SampleOptions, callback=None) -> np.ndarray:
        """mask_ids (B, H, W) int in 0..28 -> images (B, H, W, 3) uint8."""
        self.check_mask(mask_ids)
        b, h, w = mask_ids.shape
        rng = np.random.default_rng(options.seed)
        shape = (b, self.latent_channels, h // self.factor, w // self.factor)
        x_T = jt.array(rng.standard_normal(shape).astype(np.float32))
        mask = jt.array(onehot(mask_ids))
        cond = {"mask_onehot": mask, "mask_keep": jt.ones(b)}
        uncond = {"mask_onehot": mask, "mask_keep": jt.zeros(b)}
        if options.guidance_mask == 1.0:
            denoise = guided_denoise_fn(self.unet, [cond], [1.0])
        else:
            denoise = guided_denoise_fn(self.unet, [uncond, cond], cfg_weights(options.guidance_mask))
        timesteps = make_timesteps(self.schedule.num_steps, options.steps, options.spacing)

        def noise_fn(x):
            return jt.array(rng.standard_normal(tuple(x.shape)).astype(np.float32))

        with jt.no_grad():
            latents = sample(options.sampler, denoise, self.schedule, x_T, timesteps, noise_fn, options.eta, callback)
            images = self.vae.decode(latents / self.latent_scale).numpy()
        return np.stack([from_model_image(img) for img in images])
