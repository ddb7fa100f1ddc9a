"""Training the segmenter judge through lsgen's one training loop.

Loss: per-pixel cross-entropy of the full-resolution logits against the label map (SegFormer
trains the same way, its logits upsampled to the label size), optionally weighted up within a band
around label edges (SegLossConfig.edge_weight; the border weight map of Ronneberger et al. 2015,
"U-Net", eq. 2, in its simplest form). The train split of the dataset is used; `evaluation.judge`
scores the val split (the ceiling).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater

from evaluation.metrics import boundary_band
from evaluation.seg_augment import AugmentedDataset, SegAugConfig
from evaluation.segmenter import KIND, Segmenter, SegmenterConfig


@dataclass
class SegLossConfig:
    edge_weight: float = 0.0   # extra cross-entropy weight of pixels within edge_radius of a label edge
    edge_radius: int = 2       # the band of evaluation.metrics.boundary_band
    label_smoothing: float = 0.0  # target (1 - e) one-hot + e / C (Szegedy et al. 2016, "Rethinking Inception", sec. 7)

    def __post_init__(self):
        if self.edge_weight < 0 or self.edge_radius < 1:
            raise ValueError(f"loss.edge_weight must be >= 0 and loss.edge_radius >= 1, "
                             f"got {self.edge_weight} and {self.edge_radius}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"loss.label_smoothing must be in [0, 1), got {self.label_smoothing}")


SECTIONS = {"model": SegmenterConfig, "train": TrainConfig, "optim": OptimConfig, "data": DataConfig,
            "loss": SegLossConfig, "augment": SegAugConfig}


def pixel_cross_entropy(logits, target_onehot, weights=None):
    """logits (B, C, H, W), target_onehot (B, C, H, W) float one-hot (or any per-pixel distribution:
    CE = -sum_c t_c log p_c), optional weights (B, H, W) >= 0 -> scalar per-pixel CE, the mean
    (weighted: sum(w * CE) / sum(w)). Reduces over the class axis in place (no (B*H*W, C)
    transpose, no gather)."""
    shifted = logits - logits.max(dim=1, keepdims=True)
    per_pixel = shifted.exp().sum(dim=1).log() - (shifted * target_onehot).sum(dim=1)   # (B, H, W)
    if weights is None:
        return per_pixel.mean()
    return (per_pixel * weights).sum() / weights.sum()


def edge_weights(mask_ids: np.ndarray, loss_cfg: SegLossConfig | None) -> np.ndarray | None:
    """(B, H, W) int class ids -> (B, H, W) float32 per-pixel loss weights: 1 + edge_weight on the
    boundary band of radius edge_radius (evaluation.metrics.boundary_band), 1 elsewhere; None when
    the loss has no edge weighting. Numpy on the label ids: the same band from max-pooled one-hot
    maps cost ~9% of a training step."""
    if loss_cfg is None or loss_cfg.edge_weight <= 0:
        return None
    band = boundary_band(mask_ids, loss_cfg.edge_radius)
    return (1.0 + loss_cfg.edge_weight * band).astype(np.float32)


def segmentation_loss(model: Segmenter, images, mask_onehot, loss_cfg: SegLossConfig | None = None,
                      pixel_weights=None) -> dict:
    """images (B, 3, H, W) [-1, 1], mask_onehot (B, C, H, W), optional pixel_weights (B, H, W) >= 0
    (edge_weights) -> {"loss": the (weighted) CE, label-smoothed per loss_cfg, "pixel_acc": batch
    accuracy, estimated on every 4th row and column (a logging figure)}."""
    logits = model(images)
    pred = jt.argmax(logits.detach()[:, :, ::4, ::4], dim=1)[0]
    truth = jt.argmax(mask_onehot[:, :, ::4, ::4], dim=1)[0]
    target = mask_onehot
    if loss_cfg is not None and loss_cfg.label_smoothing > 0:
        eps = loss_cfg.label_smoothing
        target = mask_onehot * (1.0 - eps) + eps / mask_onehot.shape[1]
    return {"loss": pixel_cross_entropy(logits, target, pixel_weights), "pixel_acc": (pred == truth).float32().mean()}


def make_task(model_cfg: SegmenterConfig, optim_cfg: OptimConfig, train_cfg: TrainConfig,
              data_cfg: DataConfig, loss_cfg: SegLossConfig | None = None) -> TrainTask:
    """The segmenter's TrainTask: one phase, images and label maps only."""
    seed_everything(train_cfg.seed)
    model = Segmenter(model_cfg)
    updater = Updater(dict(model.named_parameters()), optim_cfg, train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="segmenter")

    def loss_fn(batch: dict, step: int) -> dict:
        model.train()
        return segmentation_loss(model, batch["image"], batch["mask_onehot"], loss_cfg, batch.get("pixel_weights"))

    def to_batch(batch: dict) -> dict:
        arrays = {"image": jt.array(batch["image"]), "mask_onehot": jt.array(batch["mask_onehot"])}
        weights = edge_weights(batch["mask_ids"], loss_cfg)
        return arrays if weights is None else {**arrays, "pixel_weights": jt.array(weights)}

    size = {"width": data_cfg.width, "height": data_cfg.height}
    return TrainTask(kind=KIND, model=model, model_config=model_cfg,
                     phases=[Phase("segmenter", updater, loss_fn)], to_batch=to_batch,
                     extra_metadata=lambda: {"image_size": size, "data_root": data_cfg.root})


def train_segmenter(sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train on `sections['data']`'s train split (augmented per `sections['augment']`); returns the
    final checkpoint path."""
    model_cfg, train_cfg = sections["model"], sections["train"]
    optim_cfg, data_cfg = sections["optim"], sections["data"]
    dataset = AugmentedDataset(LandscapeDataset(data_cfg, "train"), sections.get("augment", SegAugConfig()))
    loader = BatchLoader(dataset, train_cfg.batch_size, seed=train_cfg.seed)
    task = make_task(model_cfg, optim_cfg, train_cfg, data_cfg, sections.get("loss"))
    return run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
