"""Training every GAN of the project through lsgen's one loop: two phases per step, d_step then g_step.

d_step: G (train mode) makes fakes for the micro-batch — kept with their graph in the batch for
the g_step, so G runs forward once per step — and D is trained on (real, fake.detach()).
g_step: adversarial + feature matching + perceptual + L1 (pix2pix) + KLD (spade "ref") on the
same fakes, against the freshly updated D. LGGAN also hands its global and local branch images:
D and G treat each like the final image, weighted by `branch_weight`, and G adds LGGAN's class-
consistency and TV terms. TSIT sees the photo as its own style reference, as SPADE "ref" encodes it.
D lives in the training state (aux module); the checkpoint's weights are G's (+ EMA of G).
DiffAugment (if on) uses one set of random parameters for the real and the fake of a sample, so
feature matching compares like with like.

APF recipe (seeds.md §4): progressive stages of `progressive_stage_steps` updates, each half
stabilising at one size and half fading in the next (APF's α = (t mod T)/(T/2) − 1, clamped at 0),
then from `finetune_from` DiffAugment and the semantic-guided noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything, set_precision
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater

from gan import losses
from gan.augment import diff_augment, parse_policy
from gan.discriminators import DiscConfig, MultiscaleDiscriminator
from gan.lggan import class_consistency_loss, tv_loss
from gan.models import MODELS, check_model_config, spec_of
from gan.perceptual import build_perceptual
from gan.preview import make_preview
from gan.spade import reparameterize, resize_nearest


@dataclass
class GANLossConfig:
    """The `loss` section (weights as in the papers; see configs/gan/*-full.json)."""
    gan_loss: str = "hinge"            # hinge | ns | ls
    l1_weight: float = 0.0             # pix2pix λ = 100
    feat_weight: float = 10.0          # pix2pixHD/SPADE feature matching λ = 10
    perceptual_weight: float = 10.0    # SPADE λ_vgg = 10 (needs perceptual_weights)
    perceptual_weights: str = ""       # segmenter checkpoint (default backbone) or VGG19 safetensors; "" = off
    kld_weight: float = 0.05           # SPADE λ_KLD (style "ref" only)
    tv_weight: float = 0.0             # LGGAN λ_tv (total variation of every judged image)
    class_weight: float = 0.0          # LGGAN λ_class (class-consistency cross-entropy)
    branch_weight: float = 0.0         # LGGAN: weight of the global and local images' own D/G terms

    def __post_init__(self):
        if self.gan_loss not in losses.GAN_LOSSES:
            raise ValueError(f"loss.gan_loss must be one of {losses.GAN_LOSSES}, got {self.gan_loss!r}")
        for name in ("l1_weight", "feat_weight", "perceptual_weight", "kld_weight", "tv_weight", "class_weight",
                     "branch_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name} must be >= 0")


@dataclass
class RecipeConfig:
    """The `recipe` section: schedule-level choices (APF's progressive + fine-tune phases)."""
    diff_augment: str = ""             # "color,translation,crop" (APF fine-tune); "" = off
    finetune_from: int = 0             # step from which DiffAugment and seg-noise are on
    progressive_stage_steps: int = 0   # steps per progressive stage (0 = off)
    preview_images: int = 4
    stage2_from: int = 0               # LGGAN's second stage: from this step (0 = off) ...
    stage2_loss: dict = field(default_factory=dict)   # ... these loss weights replace the `loss` ones

    def __post_init__(self):
        parse_policy(self.diff_augment)
        if min(self.finetune_from, self.progressive_stage_steps, self.preview_images, self.stage2_from) < 0:
            raise ValueError("recipe: finetune_from, progressive_stage_steps, preview_images, stage2_from must be >= 0")
        weights = {f.name for f in fields(GANLossConfig) if f.name.endswith("_weight")}
        unknown = sorted(set(self.stage2_loss) - weights)
        if unknown:
            raise ValueError(f"recipe.stage2_loss: {unknown} are not loss weights (known: {sorted(weights)})")


def sections_for(model: str) -> dict[str, type]:
    return {"model": spec_of(model).config_class, "disc": DiscConfig, "loss": GANLossConfig,
            "recipe": RecipeConfig, "optim": OptimConfig, "disc_optim": OptimConfig,
            "train": TrainConfig, "data": DataConfig}


def progressive_level(step: int, stage_steps: int, levels: int) -> tuple[int | None, float]:
    """(level, alpha) of the generator's output at `step`; (None, 1.0) once at full size.
    Stage s = step // T: first half at level s (alpha 1), second half fading in level s+1."""
    if stage_steps <= 0 or levels <= 1 or step >= stage_steps * (levels - 1):
        return None, 1.0
    stage, within = divmod(step, stage_steps)
    alpha = max(0.0, within / (stage_steps / 2) - 1.0)
    return (stage, 1.0) if alpha == 0.0 else (stage + 1, alpha)


def check_sizes(model: str, sections: dict) -> None:
    cfg, data = sections["model"], sections["data"]
    if model == "pix2pix":
        m = cfg.size_multiple
        if data.width % m or data.height % m:
            raise ValueError(f"data size {data.width}x{data.height} is not divisible by 2^model.num_downs = {m}")
    elif (cfg.width, cfg.height) != (data.width, data.height):
        raise ValueError(f"model size {cfg.width}x{cfg.height} differs from data size {data.width}x{data.height}")


class GANSteps:
    """The two phases' loss functions of one GAN model (see the module docstring)."""

    def __init__(self, model: str, sections: dict, segmenter=None):
        self.model_name, self.sections = model, sections
        self.loss_cfg, self.recipe = sections["loss"], sections["recipe"]
        self.gen = spec_of(model).model_class(sections["model"])
        self.disc = MultiscaleDiscriminator(sections["disc"])
        weight = max(self.loss_cfg.perceptual_weight, self.recipe.stage2_loss.get("perceptual_weight", 0.0))
        self.perceptual = build_perceptual(weight, self.loss_cfg.perceptual_weights, segmenter)
        self.policy = parse_policy(self.recipe.diff_augment)
        self.levels = getattr(sections["model"], "progressive_levels", 1)

    def loss_at(self, step: int) -> GANLossConfig:
        """The loss weights in effect at `step`: `loss`, replaced by recipe.stage2_loss from
        recipe.stage2_from on (LGGAN's two-stage schedule; its LR restart is optim.restart_at)."""
        if self.recipe.stage2_from and step >= self.recipe.stage2_from:
            return replace(self.loss_cfg, **self.recipe.stage2_loss)
        return self.loss_cfg

    def finetuning(self, step: int) -> bool:
        return step >= self.recipe.finetune_from

    def generate(self, batch: dict, step: int) -> dict:
        """Fakes of this micro-batch at this step's size, computed once and cached in the batch."""
        if "_gen" in batch and batch["_gen"]["step"] == step:
            return batch["_gen"]
        self.gen.train()
        real, mask = batch["image"], batch["mask_onehot"]
        level, alpha = progressive_level(step, self.recipe.progressive_stage_steps, self.levels)
        out = {"step": step, "kld": None}
        if self.model_name == "pix2pix":
            fake = self.gen(mask)
        elif self.model_name == "tsit":
            fake = self.gen(mask, ref_image=real)
        elif self.model_name == "lggan":
            parts = self.gen.parts(mask)
            fake = parts["final"]
            out.update(branches={"global": parts["global"], "local": parts["local"]},
                       class_logits=parts["class_logits"], class_present=parts["class_present"])
        elif self.sections["model"].style == "ref":
            mu, logvar = self.gen.encode(real)
            out["kld"] = losses.kld_loss(mu, logvar)
            fake = self.gen(mask, z=reparameterize(mu, logvar))
        else:
            fake = self.gen(mask, level=level, alpha=alpha, noise=self.finetuning(step))
        if tuple(fake.shape[2:]) != tuple(real.shape[2:]):
            size = list(fake.shape[2:])
            real = jt.nn.interpolate(real, size=size, mode="bilinear", align_corners=False)
            mask = resize_nearest(mask, size)
        out.update(fake=fake, real=real, mask=mask)
        batch["_gen"] = out
        return out

    def _augmenting(self, step: int) -> bool:
        return bool(self.policy) and self.finetuning(step)

    def _augment_pair(self, fake, real, mask, step: int):
        """The same DiffAugment draw for the fake and the real of each sample."""
        if not self._augmenting(step):
            return fake, real, mask, mask
        seed = int(np.random.randint(2**31))
        fake, mask_f = diff_augment(fake, mask, self.policy, np.random.default_rng(seed))
        real, mask_r = diff_augment(real, mask, self.policy, np.random.default_rng(seed))
        return fake, real, mask_f, mask_r

    def _judged(self, gen: dict) -> list:
        """(log prefix, weight, image) of every image D judges: the final image, then (LGGAN, when
        loss.branch_weight > 0) the global and local branch images."""
        images = [("", 1.0, gen["fake"])]
        if self.loss_cfg.branch_weight > 0:
            images += [(f"{name}_", self.loss_cfg.branch_weight, image)
                       for name, image in gen.get("branches", {}).items()]
        return images

    def d_step(self, batch: dict, step: int) -> dict:
        gen = self.generate(batch, step)
        self.disc.train()
        terms, loss, real_outs = {}, 0.0, None
        for prefix, weight, image in self._judged(gen):
            fake, real, mask_f, mask_r = self._augment_pair(image.detach(), gen["real"], gen["mask"], step)
            if real_outs is None or self._augmenting(step):    # un-augmented, the real is judged once
                real_outs = self.disc(real, mask_r)
            fake_outs = self.disc(fake, mask_f)
            loss = loss + weight * losses.discriminator_loss(self.loss_cfg.gan_loss, real_outs, fake_outs)
            if not prefix:
                terms.update(logits_real=real_outs[0][-1].mean().detach(), logits_fake=fake_outs[0][-1].mean().detach())
        terms["loss"] = loss
        return terms

    def _image_terms(self, image, gen: dict, step: int, cache: dict) -> tuple:
        """G's loss on one judged image (B,3,H,W): adversarial, feature matching, L1, perceptual, TV
        -> (weighted sum, {term: value}). cache keeps D's features of the un-augmented real."""
        cfg = self.loss_at(step)
        fake, real, mask_f, mask_r = self._augment_pair(image, gen["real"], gen["mask"], step)
        fake_outs = self.disc(fake, mask_f)
        terms = {"adv": losses.generator_adv_loss(cfg.gan_loss, fake_outs)}
        loss = terms["adv"]
        if cfg.feat_weight > 0:
            if "real_outs" not in cache or self._augmenting(step):
                with jt.no_grad():
                    cache["real_outs"] = self.disc(real, mask_r)
            terms["feat"] = losses.feature_matching_loss(cache["real_outs"], fake_outs)
            loss = loss + cfg.feat_weight * terms["feat"]
        if cfg.l1_weight > 0:
            terms["l1"] = losses.l1_loss(image, gen["real"])
            loss = loss + cfg.l1_weight * terms["l1"]
        if self.perceptual is not None:
            terms["perceptual"] = self.perceptual(image, gen["real"])
            loss = loss + cfg.perceptual_weight * terms["perceptual"]
        if cfg.tv_weight > 0:
            terms["tv"] = tv_loss(image)
            loss = loss + cfg.tv_weight * terms["tv"]
        return loss, terms

    def g_step(self, batch: dict, step: int) -> dict:
        cfg = self.loss_at(step)
        gen = self.generate(batch, step)
        terms, loss, cache = {}, 0.0, {}
        for prefix, weight, image in self._judged(gen):
            image_loss, image_terms = self._image_terms(image, gen, step, cache)
            loss = loss + weight * image_loss
            terms.update({prefix + k: v for k, v in image_terms.items()})
        if gen["kld"] is not None and cfg.kld_weight > 0:
            terms["kld"] = gen["kld"]
            loss = loss + cfg.kld_weight * terms["kld"]
        if "class_logits" in gen and cfg.class_weight > 0:
            terms["class"] = class_consistency_loss(gen["class_logits"], gen["class_present"])
            loss = loss + cfg.class_weight * terms["class"]
        terms["loss"] = loss
        return terms


def make_task(model: str, sections: dict, preview_batch: dict | None = None,
              segmenter=None) -> tuple[TrainTask, GANSteps]:
    """The GAN's TrainTask: phases [d_step, g_step], D as the aux module "disc". segmenter: the
    perceptual backbone loaded from loss.perceptual_weights when that is a segmenter checkpoint."""
    check_model_config(model, sections["model"])
    train_cfg = sections["train"]
    seed_everything(train_cfg.seed)
    steps = GANSteps(model, sections, segmenter)

    def updater(module, section: str, name: str) -> Updater:
        return Updater(dict(module.named_parameters()), sections[section], train_cfg.steps,
                       train_cfg.grad_accum, train_cfg.precision, name=name)

    phases = [Phase("d_step", updater(steps.disc, "disc_optim", "disc"), steps.d_step),
              Phase("g_step", updater(steps.gen, "optim", "gen"), steps.g_step)]
    data = sections["data"]
    meta = {"image_size": [data.width, data.height], "data_root": data.root, "model": model}
    preview = make_preview(steps.gen, model, preview_batch) if preview_batch is not None else None
    task = TrainTask(kind=MODELS[model].kind, model=steps.gen, model_config=sections["model"], phases=phases,
                     to_batch=lambda b: {k: jt.array(b[k]) for k in ("image", "mask_onehot")},
                     aux_modules={"disc": steps.disc}, preview=preview, extra_metadata=lambda: meta)
    return task, steps


def train(model: str, sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True,
          segmenter=None) -> Path:
    """Train GAN `model` on sections['data']'s train split; returns the final checkpoint path.
    segmenter: see make_task."""
    check_sizes(model, sections)
    set_precision(sections["train"].precision)
    train_cfg, recipe = sections["train"], sections["recipe"]
    loader = BatchLoader(LandscapeDataset(sections["data"], "train"), train_cfg.batch_size, seed=train_cfg.seed)
    preview_batch = None
    if train_cfg.preview_every and recipe.preview_images:
        val = LandscapeDataset(sections["data"], "val")
        samples = [val.load(i) for i in range(min(recipe.preview_images, len(val)))]
        preview_batch = {k: np.stack([s[k] for s in samples]) for k in ("image", "mask_onehot", "mask_ids")}
    task, _ = make_task(model, sections, preview_batch, segmenter)
    path = run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
    set_precision("fp32")
    return Path(path)
