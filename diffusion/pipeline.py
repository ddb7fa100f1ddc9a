"""The mask (+ reference) -> image pipeline shared by scripts/sample.py, previews and evaluation.

mask_ids (B, H, W) int in 0..28 -> one-hot -> latents x_T ~ N(0, I) of shape (B, C, H/f, W/f) ->
sampler over a guided denoise_fn -> latents / latent_scale -> VAE decode -> images uint8.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffusion.guidance import guided_denoise_fn
from diffusion.samplers import SAMPLERS, make_timesteps, sample
from diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffusion.unet import UNet, UNetConfig
from lsgen import checkpoint as ckpt
from lsgen.config import from_dict
from lsgen.data.classes import NUM_CLASSES
from lsgen.data.color import match_color
from lsgen.data.io import DataError, from_model_image, onehot, to_model_image
from lsgen.runtime import jt
from vae.latents import load_vae

KIND = "unet"


@dataclass
class SampleOptions:
    sampler: str = "dpm++2m"
    steps: int = 20
    spacing: str = "trailing"
    guidance_mask: float = 2.0         # s_mask (1 with s_ref = 0: plain conditional model)
    guidance_ref: float = 1.0          # s_ref (0: the reference is ignored)
    ref_strength: float = 1.0          # img2img from the reference: 1 = pure noise start
    ref_shuffle: bool = False          # img2img from the reference's latents with their positions shuffled
    color_match: bool = False          # Lab mean/std transfer from the reference (post-process)
    eta: float = 0.0                   # DDIM stochasticity
    seed: int = 0

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 < self.ref_strength <= 1.0:
            raise ValueError(f"ref strength must be in (0, 1], got {self.ref_strength}")


def guidance_branches(guidance_mask: float, guidance_ref: float, with_ref: bool) -> list[tuple[int, int, float]]:
    """(mask on?, ref on?, weight) for each network pass of compositional guidance:
    ε = ε(∅,∅) + s_m (ε(m,∅) - ε(∅,∅)) + s_r (ε(m,r) - ε(m,∅)); zero-weight passes are dropped."""
    if not with_ref:
        branches = [(0, 0, 1.0 - guidance_mask), (1, 0, guidance_mask)]
    else:
        branches = [(0, 0, 1.0 - guidance_mask), (1, 0, guidance_mask - guidance_ref), (1, 1, guidance_ref)]
    return [b for b in branches if b[2] != 0.0]


def shuffle_positions(latents, rng: np.random.Generator):
    """(B, C, h, w) -> the same latent vectors with each image's h*w positions randomly permuted (all
    channels together): the reference's latent values, hence its colour distribution, without its
    layout, so an img2img start from it cannot leak the reference's regions into the output."""
    values = latents.numpy()
    b, c, h, w = values.shape
    flat = values.reshape(b, c, h * w)
    return jt.array(np.stack([image[:, rng.permutation(h * w)] for image in flat]).reshape(b, c, h, w))


def block_classes(mask_ids: np.ndarray, factor: int) -> np.ndarray:
    """(B, H, W) int ids 0..28 -> (B, H/f, W/f) the majority class of each f x f block (ties: lowest
    id): the label of each latent position."""
    b, h, w = mask_ids.shape
    blocks = mask_ids.reshape(b, h // factor, factor, w // factor, factor).transpose(0, 1, 3, 2, 4)
    blocks = blocks.reshape(b, h // factor, w // factor, factor * factor)
    counts = (blocks[..., None] == np.arange(NUM_CLASSES)).sum(axis=3)
    return counts.argmax(axis=-1)


def match_positions(latents, target_classes: np.ndarray, source_classes: np.ndarray, rng: np.random.Generator):
    """Rearrange reference latents into a target layout by class: (B, C, h, w) latents of references
    whose latent positions have classes source_classes (B, h, w) -> (B, C, h, w) where each position
    of class c in target_classes (B, h, w) holds the latent vector of a random reference position of
    class c (each used once before any repeats), or of any reference position when the reference
    has no c. The start keeps the reference's colours per class in the mask's layout: no reference
    layout reaches it (the class-aware form of shuffle_positions)."""
    values = latents.numpy()
    b, c, h, w = values.shape
    out = np.empty_like(values.reshape(b, c, h * w))
    for i in range(b):
        source, target = source_classes[i].ravel(), target_classes[i].ravel()
        taken = np.empty(h * w, np.int64)
        for cls in np.unique(target):
            where = np.flatnonzero(target == cls)
            pool = np.flatnonzero(source == cls)
            pool = pool if pool.size else np.arange(h * w)
            taken[where] = np.resize(rng.permutation(pool), where.size)
        out[i] = values[i].reshape(c, h * w)[:, taken]
    return jt.array(out.reshape(b, c, h, w))


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
        self.controlnet, self.control_scale = None, 1.0

    def use_controlnet(self, controlnet, scale: float = 1.0) -> None:
        """Add a ControlNet (controlnet package; any callable with the same signature and a
        `cfg.control` of 'mask' or 'edges') whose residuals enter every UNet pass."""
        self.controlnet, self.control_scale = controlnet, scale

    def model_fn(self, x, t, control_image=None, **cond):
        """UNet call with the ControlNet's residuals when one is in use."""
        control = None
        if self.controlnet is not None:
            control = self.controlnet(x, t, control_image, scale=self.control_scale, **cond)
        return self.unet(x, t, control=control, **cond)

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

    def denoise_fn(self, mask_ids: np.ndarray, ref_images: np.ndarray | None, options: SampleOptions,
                   control_images: np.ndarray | None = None):
        """The guided denoise_fn(x, t) for these masks (+ references): one batched UNet call.
        control_images (B, C, H, W): the ControlNet's input; for a mask ControlNet the one-hot
        masks at full resolution are used when none is given."""
        b = mask_ids.shape[0]
        mask = jt.array(onehot(mask_ids))
        control = self._control(mask, control_images)
        has_route = self.unet.ref_encoder is not None
        use_ref = ref_images is not None and has_route
        if has_route:
            without_ref = self.unet.null_ref(b)
        if use_ref:
            with_ref = self.unet.encode_ref(jt.array(np.stack([to_model_image(r) for r in ref_images])))
        branches, weights = [], []
        for mask_on, ref_on, weight in guidance_branches(options.guidance_mask, options.guidance_ref, use_ref):
            cond = {"mask_onehot": mask, "mask_keep": jt.full((b,), float(mask_on))}
            if control is not None:
                cond["control_image"] = control
            if has_route:
                tokens, glob = with_ref if ref_on else without_ref
                cond.update(ref_tokens=tokens, ref_global=glob)
            branches.append(cond)
            weights.append(weight)
        return guided_denoise_fn(self.model_fn, branches, weights)

    def _control(self, mask, control_images):
        if self.controlnet is None:
            return None
        if control_images is not None:
            return jt.array(control_images.astype(np.float32))
        if self.controlnet.cfg.control != "mask":
            raise ValueError(f"a {self.controlnet.cfg.control!r} ControlNet needs control images")
        return mask

    def start(self, shape: tuple, ref_images: np.ndarray | None, options: SampleOptions, rng,
              mask_ids: np.ndarray | None = None, ref_labels: np.ndarray | None = None):
        """(x_start, timesteps). ref_strength s < 1 starts from the reference's latents noised to
        the s-th fraction of the trajectory (SDEdit, Meng et al. 2022; IIDM's route). With
        ref_shuffle the reference's latent positions are permuted first (shuffle_positions): the
        start keeps the reference's latent values (its colours) but not its layout. Given the
        references' labels ref_labels (B, H, W) and the masks mask_ids (B, H, W), the shuffle is by
        class (match_positions): each mask region starts from the reference's latents of its class."""
        timesteps = make_timesteps(self.schedule.num_steps, options.steps, options.spacing)
        noise = rng.standard_normal(shape).astype(np.float32)
        if options.ref_strength >= 1.0 or ref_images is None:
            return jt.array(noise), timesteps
        keep = max(1, int(round(options.steps * options.ref_strength)))
        timesteps = timesteps[len(timesteps) - keep:]
        ref = jt.array(np.stack([to_model_image(r) for r in ref_images]))
        latents = self.vae.encode(ref).mean * self.latent_scale
        if options.ref_shuffle and ref_labels is not None and mask_ids is not None:
            latents = match_positions(latents, block_classes(mask_ids, self.factor),
                                      block_classes(ref_labels, self.factor), rng)
        elif options.ref_shuffle:
            latents = shuffle_positions(latents, rng)
        return self.schedule.add_noise(latents, jt.array(noise), int(timesteps[0])), timesteps

    def generate(self, mask_ids: np.ndarray, options: SampleOptions, ref_images: np.ndarray | None = None,
                 callback=None, control_images: np.ndarray | None = None,
                 ref_labels: np.ndarray | None = None) -> np.ndarray:
        """mask_ids (B, H, W) int in 0..28, ref_images (B, H, W, 3) uint8 at the same size or None,
        ref_labels (B, H, W) int in 0..28, the references' label maps (used by the ref_shuffle start
        only) or None -> images (B, H, W, 3) uint8."""
        self.check_mask(mask_ids)
        b, h, w = mask_ids.shape
        if ref_images is not None and ref_images.shape[:3] != (b, h, w):
            raise ValueError(f"references are {ref_images.shape[1:3]}, masks {(h, w)}: resize them first")
        if ref_labels is not None and ref_labels.shape != (b, h, w):
            raise ValueError(f"reference labels are {ref_labels.shape[1:]}, masks {(h, w)}: resize them first")
        rng = np.random.default_rng(options.seed)

        def noise_fn(x):
            return jt.array(rng.standard_normal(tuple(x.shape)).astype(np.float32))

        with jt.no_grad():
            x, timesteps = self.start((b, self.latent_channels, h // self.factor, w // self.factor),
                                      ref_images, options, rng, mask_ids, ref_labels)
            denoise = self.denoise_fn(mask_ids, ref_images, options, control_images)
            latents = sample(options.sampler, denoise, self.schedule, x, timesteps, noise_fn, options.eta, callback)
            images = np.stack([from_model_image(img) for img in self.vae.decode(latents / self.latent_scale).numpy()])
        if options.color_match and ref_images is not None:
            images = np.stack([match_color(img, ref) for img, ref in zip(images, ref_images)])
        return images


class DiffusionGenerator:
    """The evaluation registry's contract (evaluation/registry.py) for a UNet checkpoint:
    sample(mask_onehot (B,29,H,W), ref_image (B,3,H,W) in [-1,1] | None, seed) -> (B,3,H,W) in [-1,1]."""

    def __init__(self, pipe: LandscapePipeline, options: SampleOptions, name: str = "latent-diffusion"):
        self.pipe, self.options, self.name = pipe, options, name

    def sample(self, mask_onehot: np.ndarray, ref_image: np.ndarray | None, seed: int) -> np.ndarray:
        from dataclasses import replace  # noqa: PLC0415

        refs = None if ref_image is None else np.stack([from_model_image(r) for r in ref_image])
        images = self.pipe.generate(np.argmax(mask_onehot, axis=1).astype(np.int32), replace(self.options, seed=seed), refs)
        return np.stack([to_model_image(im) for im in images])


def load_generator(path) -> DiffusionGenerator:
    """Registry loader for kind 'unet': the pipeline with default sampling options."""
    return DiffusionGenerator(LandscapePipeline.from_checkpoint(path), SampleOptions())
