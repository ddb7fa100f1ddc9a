"""Training the KL autoencoder through lsgen's one training loop.

Two phases per update once the GAN is on (LDM's recipe): `vae` (L1 + KL [+ perceptual] [+ adaptive
GAN term]) then `disc` (hinge loss on real images vs the reconstructions of the same micro-batch,
computed before the autoencoder's update). The discriminator is an auxiliary module: it lives in the
training state, never in the weights file. After the last update the latent scale is computed with
the weights `load_vae` returns (EMA if any) and written into the final checkpoint's metadata, which
is also copied to `<run_dir>/vae.safetensors`, the file the later stages point at.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from lsgen import checkpoint as ckpt
from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.io import from_model_image, read_image, resize_image, to_model_image
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything, set_precision
from lsgen.train import dist
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater

from vae.latents import KIND, compute_latent_scale, load_vae
from vae.losses import LossConfig, PatchDiscriminator, autoencoder_loss, build_perceptual, discriminator_loss
from vae.metrics import bicubic_round_trip, psnr
from vae.model import AutoencoderKL, VAEConfig
from vae.patch_pca import init_patch_path

FINAL_NAME = "vae.safetensors"


@dataclass
class RecipeConfig:
    """The `recipe` section: VAE-specific training choices outside model, loss and optimizer."""
    crop_width: int = 0                # >0: train on random crops of this size (0 = full frame)
    crop_height: int = 0
    scale_images: int = 256            # training images used to measure the latent scale
    preview_images: int = 4            # val images in each reconstruction grid
    patch_pca_images: int = 256        # training images whose patches initialise model.patch_path

    def __post_init__(self):
        if (self.crop_width > 0) != (self.crop_height > 0) or min(self.crop_width, self.crop_height) < 0:
            raise ValueError("crop_width and crop_height must both be 0 or both > 0")
        if self.scale_images < 1 or self.preview_images < 0 or self.patch_pca_images < 1:
            raise ValueError("scale_images and patch_pca_images must be >= 1 and preview_images >= 0")


SECTIONS = {"model": VAEConfig, "loss": LossConfig, "optim": OptimConfig, "disc_optim": OptimConfig,
            "train": TrainConfig, "data": DataConfig, "recipe": RecipeConfig}


class ImageSplit:
    """The images (no label maps) of one split of a LandscapeDataset: load(i, rng) ->
    {"image": (3,H,W) float32 in [-1,1]}, horizontally flipped with p=0.5 when training with rng."""

    def __init__(self, cfg: DataConfig, split: str):
        self.base = LandscapeDataset(cfg, split)
        self.split, self.cfg = split, cfg

    def __len__(self) -> int:
        return len(self.base)

    @property
    def names(self) -> list[str]:
        return self.base.names

    def load(self, index: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        _, path, _ = self.base.items[index]
        image = to_model_image(resize_image(read_image(path), self.cfg.width, self.cfg.height))
        if self.base.flip and rng is not None and rng.random() < 0.5:
            image = np.ascontiguousarray(image[..., ::-1])
        return {"image": image}


def random_crop(images: np.ndarray, width: int, height: int) -> np.ndarray:
    """(B,C,H,W) -> (B,C,height,width), an independent uniform crop per image (numpy global RNG,
    which the training state saves, so resume stays exact)."""
    _, _, h, w = images.shape
    tops = np.random.randint(0, h - height + 1, size=len(images))
    lefts = np.random.randint(0, w - width + 1, size=len(images))
    return np.stack([img[:, t:t + height, l:l + width] for img, t, l in zip(images, tops, lefts)])


def check_sizes(model: VAEConfig, data: DataConfig, recipe: RecipeConfig) -> None:
    """One-line errors for image or crop sizes the autoencoder cannot take."""
    f = model.downsample_factor
    for what, w, h in (("data", data.width, data.height), ("recipe.crop", recipe.crop_width, recipe.crop_height)):
        if w % f or h % f:
            raise ValueError(f"{what} size {w}x{h} is not divisible by the VAE's downsampling factor {f}")
    if recipe.crop_width > data.width or recipe.crop_height > data.height:
        raise ValueError(f"crop {recipe.crop_width}x{recipe.crop_height} exceeds the image size {data.width}x{data.height}")


def make_task(sections: dict, preview_images: np.ndarray | None = None) -> TrainTask:
    """The VAE's TrainTask (phases `vae` and, when loss.disc_weight > 0, `disc`)."""
    model_cfg, loss_cfg, train_cfg = sections["model"], sections["loss"], sections["train"]
    recipe = sections["recipe"]
    seed_everything(train_cfg.seed)
    vae = AutoencoderKL(model_cfg)
    disc = PatchDiscriminator(model_cfg.in_channels, loss_cfg.disc_channels, loss_cfg.disc_layers) \
        if loss_cfg.uses_gan else None
    # Jittor initialises lazily: draw the seeded initial weights now, before anything else uses the RNG
    jt.sync([v for m in (vae, disc) if m is not None for v in m.state_dict().values()])
    perceptual = build_perceptual(loss_cfg)

    def updater(module, section: str, name: str) -> Updater:
        return Updater(dict(module.named_parameters()), sections[section], train_cfg.steps,
                       train_cfg.grad_accum, train_cfg.precision, name=name)

    def gan_on(step: int) -> bool:
        return disc is not None and step >= loss_cfg.disc_start

    def vae_loss(batch: dict, step: int) -> dict:
        vae.train()
        recon, posterior = vae(batch["image"])
        if gan_on(step):
            batch["recon"] = recon.detach()  # the disc phase sees these pre-update reconstructions
        return autoencoder_loss(batch["image"], recon, posterior, loss_cfg, step, vae.last_layer, disc, perceptual)

    def disc_loss(batch: dict, step: int) -> dict:
        return discriminator_loss(disc, batch["image"], batch["recon"])

    def to_batch(batch: dict) -> dict:
        images = batch["image"]
        if recipe.crop_width:
            images = random_crop(images, recipe.crop_width, recipe.crop_height)
        return {"image": jt.array(images)}

    phases = [Phase("vae", updater(vae, "optim", "vae"), vae_loss)]
    aux = {}
    if disc is not None:
        phases.append(Phase("disc", updater(disc, "disc_optim", "disc"), disc_loss, active=gan_on))
        aux["disc"] = disc
    data = sections["data"]
    meta = {"image_size": [data.width, data.height], "data_root": data.root,
            "downsample_factor": model_cfg.downsample_factor}
    preview = make_preview(vae, preview_images) if preview_images is not None and len(preview_images) else None
    return TrainTask(kind=KIND, model=vae, model_config=model_cfg, phases=phases, to_batch=to_batch,
                     aux_modules=aux, preview=preview, extra_metadata=lambda: meta)


def reconstruct(vae: AutoencoderKL, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Deterministic reconstructions decode(mode(encode(x))): (N,3,H,W) [-1,1] -> same shape."""
    out = []
    with jt.no_grad():
        for start in range(0, len(images), batch_size):
            x = jt.array(images[start:start + batch_size])
            out.append(vae.decode(vae.encode(x).mode()).numpy())
    return np.concatenate(out)


def make_preview(vae: AutoencoderKL, images: np.ndarray):
    """A TrainTask.preview: writes previews/stepNNNNNNN.png (top: val images, bottom: their
    reconstructions) and appends {step, psnr, psnr_bicubic} of those images to previews.jsonl."""
    originals = [from_model_image(x) for x in images]
    f = vae.cfg.downsample_factor
    baseline = float(np.mean([psnr(o, bicubic_round_trip(o, f)) for o in originals]))

    def preview(step: int, run_dir: Path) -> None:
        vae.eval()
        recons = [from_model_image(x) for x in reconstruct(vae, images)]
        vae.train()
        grid = np.concatenate([np.concatenate(originals, axis=1), np.concatenate(recons, axis=1)], axis=0)
        path = Path(run_dir) / "previews" / f"step{step:07d}.png"
        ckpt.write_with(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))
        record = {"step": step, "psnr": float(np.mean([psnr(o, r) for o, r in zip(originals, recons)])),
                  "psnr_bicubic": baseline}
        with open(Path(run_dir) / "previews.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")

    return preview


def init_patch_path_from_data(vae: AutoencoderKL, data: DataConfig, max_images: int) -> None:
    """PCA-initialise the patch path from the first `max_images` full-frame images of the train
    split (no flip), before the first update."""
    split = ImageSplit(replace(data, flip=False), "train")
    images = np.stack([split.load(i)["image"] for i in range(min(max_images, len(split)))])
    pca = init_patch_path(vae, images)
    kept = pca.variances.sum() / max(pca.total_variance, 1e-12)
    print(f"patch path: PCA of {len(images)} train images, {len(pca.variances)} components keep "
          f"{100 * kept:.1f}% of the patch variance", file=sys.stderr)


def finalize(checkpoint: Path, sections: dict, run_dir: Path) -> Path:
    """Measure the latent scale with the weights load_vae returns and store it in the checkpoint's
    metadata (re-saved in place) and in `<run_dir>/vae.safetensors`. Returns the latter."""
    final = run_dir / FINAL_NAME
    if not dist.is_main():
        return final
    vae, meta = load_vae(checkpoint)
    data = replace(sections["data"], flip=False)
    stats = compute_latent_scale(vae, ImageSplit(data, "train"), sections["recipe"].scale_images)
    stats["latent_scale_weights"] = meta["weights"]
    base = ("format", "kind", "config", "step", "dtype", "weights")
    extra = {k: v for k, v in meta.items() if k not in base}
    extra.update(stats)
    arrays = ckpt.read_arrays(checkpoint)
    for path in (checkpoint, final):
        ckpt.save_weights(path, arrays, KIND, meta["config"], meta["step"], extra)
    print(f"latent scale {stats['latent_scale']:.5g} (std {stats['latent_std']:.4g}, mean "
          f"{stats['latent_mean']:.3g} over {stats['latent_scale_images']} train images, {meta['weights']} weights)",
          file=sys.stderr)
    return final


def train(sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train on sections['data']'s train split; returns `<run_dir>/vae.safetensors`."""
    run_dir = Path(run_dir)
    check_sizes(sections["model"], sections["data"], sections["recipe"])
    set_precision(sections["train"].precision)
    train_cfg, recipe = sections["train"], sections["recipe"]
    loader = BatchLoader(ImageSplit(sections["data"], "train"), train_cfg.batch_size, seed=train_cfg.seed)
    preview_images = None
    if train_cfg.preview_every and recipe.preview_images:
        val = ImageSplit(sections["data"], "val")
        preview_images = np.stack([val.load(i)["image"] for i in range(min(recipe.preview_images, len(val)))])
    task = make_task(sections, preview_images)
    if sections["model"].patch_path and not resume:
        init_patch_path_from_data(task.model, sections["data"], recipe.patch_pca_images)
    checkpoint = run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
    set_precision("fp32")
    return finalize(Path(checkpoint), sections, run_dir)
