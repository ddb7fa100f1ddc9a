"""Training the segmenter judge through lsgen's one training loop.

Loss: per-pixel cross-entropy of the full-resolution logits against the label map (SegFormer
trains the same way, its logits upsampled to the label size), optionally averaged over the hardest
pixels only (`loss.hard_fraction`, online bootstrapping: Wu, Shen & van den Hengel 2016, "Bridging
category-level and instance-level semantic image segmentation", arXiv:1605.06885). The train split of the
dataset is used; `evaluation.judge` scores the val split (the ceiling).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater

from evaluation.segmenter import KIND, Segmenter, SegmenterConfig


@dataclass
class LossConfig:
    """The `loss` section (absent in older configs: plain cross-entropy)."""
    hard_fraction: float = 1.0         # average the CE over this share of the batch's hardest pixels

    def __post_init__(self):
        if not 0 < self.hard_fraction <= 1:
            raise ValueError(f"hard_fraction must be in (0, 1], got {self.hard_fraction}")


SECTIONS = {"model": SegmenterConfig, "train": TrainConfig, "optim": OptimConfig, "data": DataConfig,
            "loss": LossConfig}


def bootstrapped_cross_entropy(logits, target_onehot, hard_fraction: float = 1.0):
    """logits (B, C, H, W), target_onehot (B, C, H, W) float one-hot -> scalar: the mean per-pixel CE
    over the ceil(hard_fraction * B*H*W) pixels of largest CE (all pixels: the plain mean CE).
    Reduces over the class axis in place (no (B*H*W, C) transpose, no gather)."""
    shifted = logits - logits.max(dim=1, keepdims=True)
    log_z = shifted.exp().sum(dim=1).log()                               # (B, H, W)
    losses = (log_z - (shifted * target_onehot).sum(dim=1)).reshape(-1)
    if hard_fraction >= 1:
        return losses.mean()
    k = max(1, int(math.ceil(hard_fraction * losses.shape[0])))
    threshold = jt.kthvalue(losses.detach(), losses.shape[0] - k + 1)[0]
    hard = (losses >= threshold).float32()
    return (losses * hard).sum() / hard.sum()


def segmentation_loss(model: Segmenter, images, mask_onehot, hard_fraction: float = 1.0) -> dict:
    """images (B, 3, H, W) [-1, 1], mask_onehot (B, C, H, W) -> {"loss": (bootstrapped) CE,
    "pixel_acc": batch accuracy, estimated on every 4th row and column (a logging figure)}."""
    logits = model(images)
    loss = bootstrapped_cross_entropy(logits, mask_onehot, hard_fraction)
    pred = jt.argmax(logits.detach()[:, :, ::4, ::4], dim=1)[0]
    truth = jt.argmax(mask_onehot[:, :, ::4, ::4], dim=1)[0]
    return {"loss": loss, "pixel_acc": (pred == truth).float32().mean()}


def make_task(model_cfg: SegmenterConfig, optim_cfg: OptimConfig, train_cfg: TrainConfig,
              data_cfg: DataConfig, loss_cfg: LossConfig | None = None) -> TrainTask:
    """The segmenter's TrainTask: one phase, images and label maps only."""
    seed_everything(train_cfg.seed)
    loss_cfg = loss_cfg or LossConfig()
    model = Segmenter(model_cfg)
    updater = Updater(dict(model.named_parameters()), optim_cfg, train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="segmenter")

    def loss_fn(batch: dict, step: int) -> dict:
        model.train()
        return segmentation_loss(model, batch["image"], batch["mask_onehot"], loss_cfg.hard_fraction)

    def to_batch(batch: dict) -> dict:
        return {"image": jt.array(batch["image"]), "mask_onehot": jt.array(batch["mask_onehot"])}

    size = {"width": data_cfg.width, "height": data_cfg.height}
    return TrainTask(kind=KIND, model=model, model_config=model_cfg,
                     phases=[Phase("segmenter", updater, loss_fn)], to_batch=to_batch,
                     extra_metadata=lambda: {"image_size": size, "data_root": data_cfg.root})


def train_segmenter(sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train on `sections['data']`'s train split; returns the final checkpoint path."""
    model_cfg, train_cfg = sections["model"], sections["train"]
    optim_cfg, data_cfg = sections["optim"], sections["data"]
    dataset = LandscapeDataset(data_cfg, "train")
    loader = BatchLoader(dataset, train_cfg.batch_size, seed=train_cfg.seed)
    task = make_task(model_cfg, optim_cfg, train_cfg, data_cfg, sections.get("loss"))
    return run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
