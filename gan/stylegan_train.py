"""Training StyleGAN v1 through lsgen's one loop (d_step + g_step), and its registry sampler.

The conditional GAN trainer (gan/train.py) feeds masks to a conditional multiscale D; StyleGAN is
unconditional with its own progressive D, so it brings its own two phases here, on the same loop,
Updater (one optimizer group per network: every parameter updated once per step), EMA and data.

Data: the shared pipeline at data.height = model.resolution and the aspect-keeping width (85x64 for
64), centre-cropped to r x r in `to_batch` (the seed squashed images to squares, seeds.md §3).
Progressive growing (ProGAN sec. 3; the seed's 8 -> 64): stage 0 trains `start_resolution`; each
later stage fades the next level in over its first half (α: 0 -> 1) and stabilises over its second;
reals are faded the same way (α·x_k + (1-α)·up(down(x_k))). Loss (StyleGAN's FFHQ setup, seeds.md §3
"r1"): non-saturating, L_D = softplus(D(G(z))) + softplus(-D(x)) + γ/2·E‖∇_x D(x)‖² (R1, Mescheder
et al. 2018, eq. 9), L_G = softplus(-D(G(z))). Style mixing with probability `mixing_prob`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lsgen import checkpoint as ckpt
from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.io import from_model_image
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything, set_precision
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater

from gan import losses
from gan.models import ModelSpec, build_from_checkpoint
from gan.stylegan import (StyleDiscConfig, StyleDiscriminator, StyleGANConfig, StyleGenerator, downsample2,
                          upsample2)

KIND = "gan-stylegan"


@dataclass
class StyleLossConfig:
    """The `loss` section."""
    r1_gamma: float = 10.0             # R1 weight γ (StyleGAN, the seed's "r1": 10)
    mixing_prob: float = 0.9           # style-mixing regularisation (StyleGAN sec. 3.1)

    def __post_init__(self):
        if self.r1_gamma < 0 or not 0 <= self.mixing_prob <= 1:
            raise ValueError("loss: r1_gamma >= 0 and mixing_prob in [0, 1] required")


@dataclass
class StyleRecipeConfig:
    """The `recipe` section: progressive growing and previews."""
    start_resolution: int = 8
    stage_steps: int = 0               # updates per stage; 0 = no growing (full resolution throughout)
    preview_images: int = 8

    def __post_init__(self):
        if self.start_resolution < 4 or self.stage_steps < 0 or self.preview_images < 0:
            raise ValueError("recipe: start_resolution >= 4, stage_steps >= 0, preview_images >= 0 required")


SECTIONS = {"model": StyleGANConfig, "disc": StyleDiscConfig, "loss": StyleLossConfig, "recipe": StyleRecipeConfig,
            "optim": OptimConfig, "disc_optim": OptimConfig, "train": TrainConfig, "data": DataConfig}


def schedule(step: int, stage_steps: int, start_level: int, max_level: int) -> tuple[int, float]:
    """(level, alpha) at `step` (see the module docstring); (max_level, 1.0) without growing."""
    if stage_steps <= 0:
        return max_level, 1.0
    stage, within = divmod(step, stage_steps)
    if stage == 0:
        return start_level, 1.0
    if start_level + stage > max_level:
        return max_level, 1.0
    return start_level + stage, min(1.0, within / (stage_steps / 2))


def check_sections(sections: dict) -> None:
    model, disc, data, recipe = sections["model"], sections["disc"], sections["data"], sections["recipe"]
    if len(disc.channels) != model.levels:
        raise ValueError(f"disc.channels needs {model.levels} widths like model.channels, got {list(disc.channels)}")
    if data.height != model.resolution or data.width < model.resolution:
        raise ValueError(f"data size {data.width}x{data.height} must have height {model.resolution} "
                         f"(model.resolution) and width >= it (centre-cropped to a square)")
    if recipe.start_resolution > model.resolution or 4 * 2 ** start_level(recipe) != recipe.start_resolution:
        raise ValueError(f"recipe.start_resolution must be 4·2^k <= {model.resolution}, got {recipe.start_resolution}")


def start_level(recipe: StyleRecipeConfig) -> int:
    return int(round(math.log2(recipe.start_resolution / 4)))


def centre_crop(images: np.ndarray, size: int) -> np.ndarray:
    """(B,3,size,W) -> (B,3,size,size), the middle columns."""
    left = (images.shape[3] - size) // 2
    return np.ascontiguousarray(images[:, :, :, left:left + size])


def real_at(image, level: int, alpha: float, max_level: int):
    """Full-resolution reals (B,3,R,R) -> level's resolution, faded like the generator's output."""
    for _ in range(max_level - level):
        image = downsample2(image)
    if level > 0 and alpha < 1.0:
        image = alpha * image + (1.0 - alpha) * upsample2(downsample2(image))
    return image


class StyleGANSteps:
    """The two phases' loss functions; fakes are made once per step and shared by both."""

    def __init__(self, sections: dict):
        self.sections = sections
        self.cfg, self.loss_cfg, self.recipe = sections["model"], sections["loss"], sections["recipe"]
        self.gen = StyleGenerator(self.cfg)
        self.disc = StyleDiscriminator(sections["disc"])
        self.seed = sections["train"].seed

    def level_alpha(self, step: int) -> tuple[int, float]:
        return schedule(step, self.recipe.stage_steps, start_level(self.recipe), self.gen.max_level)

    def generate(self, batch: dict, step: int) -> dict:
        """Fakes of this micro-batch at this step's (level, alpha), with style mixing; cached in the batch."""
        if "_gen" in batch and batch["_gen"]["step"] == step:
            return batch["_gen"]
        self.gen.train()
        level, alpha = self.level_alpha(step)
        b = batch["image"].shape[0]
        rng = np.random.default_rng([self.seed, step, 7])
        mix_z = crossover = None
        if rng.random() < self.loss_cfg.mixing_prob:
            mix_z, crossover = jt.randn(b, self.cfg.z_dim), int(rng.integers(1, 2 * (level + 1)))
        fake = self.gen(jt.randn(b, self.cfg.z_dim), level=level, alpha=alpha, mix_z=mix_z, crossover=crossover)
        batch["_gen"] = {"step": step, "fake": fake, "level": level, "alpha": alpha}
        return batch["_gen"]

    def d_step(self, batch: dict, step: int) -> dict:
        gen = self.generate(batch, step)
        level, alpha = gen["level"], gen["alpha"]
        self.disc.train()
        real = real_at(batch["image"], level, alpha, self.gen.max_level)
        real_logits = self.disc(real, level, alpha)
        fake_logits = self.disc(gen["fake"].detach(), level, alpha)
        terms = {"adv": losses.d_loss_logits("ns", real_logits, fake_logits)}
        loss = terms["adv"]
        if self.loss_cfg.r1_gamma > 0:
            grad = jt.grad(real_logits.sum(), real)
            terms["r1"] = grad.sqr().sum(dims=(1, 2, 3)).mean()
            loss = loss + 0.5 * self.loss_cfg.r1_gamma * terms["r1"]
        terms.update(loss=loss, logits_real=real_logits.mean().detach(), logits_fake=fake_logits.mean().detach(),
                     level=float(level), alpha=float(alpha))
        return terms

    def g_step(self, batch: dict, step: int) -> dict:
        gen = self.generate(batch, step)
        return {"loss": losses.g_loss_logits("ns", self.disc(gen["fake"], gen["level"], gen["alpha"]))}


def make_preview(gen: StyleGenerator, steps: StyleGANSteps, n: int):
    """A TrainTask.preview: n samples of fixed z (seed 0, fixed noise) from the training generator in
    eval mode at the step's level, nearest-upsampled to the full size, in one row."""
    z = np.random.default_rng(0).standard_normal((n, gen.cfg.z_dim)).astype(np.float32)

    def preview(step: int, run_dir: Path) -> None:
        level, alpha = steps.level_alpha(step)
        gen.eval()
        jt.set_seed(0)
        with jt.no_grad():
            images = gen(jt.array(z), level=level, alpha=alpha)
            for _ in range(gen.max_level - level):
                images = upsample2(images)
            row = np.concatenate([from_model_image(im) for im in images.numpy()], axis=1)
        gen.train()
        path = Path(run_dir) / "previews" / f"step{step:07d}.png"
        ckpt.write_with(path, lambda tmp: Image.fromarray(row).save(tmp, format="PNG"))

    return preview


def make_task(sections: dict) -> tuple[TrainTask, StyleGANSteps]:
    """StyleGAN's TrainTask: phases [d_step, g_step], D as the aux module "disc"."""
    check_sections(sections)
    train_cfg = sections["train"]
    seed_everything(train_cfg.seed)
    steps = StyleGANSteps(sections)

    def updater(module, section: str, name: str) -> Updater:
        return Updater(dict(module.named_parameters()), sections[section], train_cfg.steps,
                       train_cfg.grad_accum, train_cfg.precision, name=name)

    phases = [Phase("d_step", updater(steps.disc, "disc_optim", "disc"), steps.d_step),
              Phase("g_step", updater(steps.gen, "optim", "gen"), steps.g_step)]
    data, size = sections["data"], sections["model"].resolution
    meta = {"image_size": [size, size], "data_root": data.root, "model": "stylegan"}
    n_preview = sections["recipe"].preview_images
    task = TrainTask(kind=KIND, model=steps.gen, model_config=sections["model"], phases=phases,
                     to_batch=lambda b: {"image": jt.array(centre_crop(b["image"], size))},
                     aux_modules={"disc": steps.disc}, extra_metadata=lambda: meta,
                     preview=make_preview(steps.gen, steps, n_preview) if n_preview else None)
    return task, steps


def train(sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train StyleGAN on sections['data']'s train split (photos only); returns the final checkpoint."""
    check_sections(sections)
    set_precision(sections["train"].precision)
    train_cfg = sections["train"]
    loader = BatchLoader(LandscapeDataset(sections["data"], "train"), train_cfg.batch_size, seed=train_cfg.seed)
    task, _ = make_task(sections)
    path = run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
    set_precision("fp32")
    return Path(path)


class StyleGANSampler:
    """Registry generator for kind "gan-stylegan": ignores the mask and the reference (unconditional;
    `conditional = False` makes the report print no mask accuracy). z is drawn from `seed` (numpy),
    the noise from Jittor seeded with it; the r x r output is resized (bilinear) to the mask's H x W."""
    conditional = False

    def __init__(self, generator: StyleGenerator, psi: float = 1.0, name: str = "stylegan"):
        self.generator, self.psi = generator, psi
        self.name = name if psi == 1.0 else f"{name}-psi{psi:g}"

    def sample(self, mask_onehot: np.ndarray, ref_image: np.ndarray | None, seed: int) -> np.ndarray:
        b, _, h, w = np.shape(mask_onehot)
        z = np.random.default_rng(seed).standard_normal((b, self.generator.cfg.z_dim)).astype(np.float32)
        self.generator.eval()
        jt.set_seed(int(seed) % (2**31))
        with jt.no_grad():
            images = self.generator(jt.array(z), psi=self.psi)
            if tuple(images.shape[2:]) != (h, w):
                images = jt.nn.interpolate(images, size=[h, w], mode="bilinear", align_corners=False)
            return np.clip(images.numpy(), -1.0, 1.0).astype(np.float32)


def load_sampler(path: str | Path, psi: float = 1.0) -> StyleGANSampler:
    """Registry loader (kind "gan-stylegan"): the EMA generator in eval mode (the seed trained its
    running copy in train mode), no truncation by default (FD is measured without it; ψ = 0.7 was
    the seed's sampling choice)."""
    return StyleGANSampler(build_from_checkpoint(path, ModelSpec(KIND, StyleGANConfig, StyleGenerator)), psi)
