"""Training the segmenter judge through lsgen's one training loop.

Loss: per-pixel cross-entropy of the full-resolution logits against the label map (SegFormer
trains the same way, its logits upsampled to the label size). The train split of the dataset is
used; `evaluation.judge` scores the val split (the ceiling).
"""
from __future__ import annotations

from pathlib import Path

from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater

from evaluation.segmenter import KIND, Segmenter, SegmenterConfig


SECTIONS = {"model": SegmenterConfig, "train": TrainConfig, "optim": OptimConfig, "data": DataConfig}


def pixel_cross_entropy(logits, target_onehot):
    """logits (B, C, H, W), target_onehot (B, C, H, W) float one-hot -> scalar mean per-pixel CE.
    Reduces over the class axis in place (no (B*H*W, C) transpose, no gather)."""
    shifted = logits - logits.max(dim=1, keepdims=True)
    log_z = shifted.exp().sum(dim=1).log()                               # (B, H, W)
    return (log_z - (shifted * target_onehot).sum(dim=1)).mean()


def segmentation_loss(model: Segmenter, images, mask_onehot) -> dict:
    """images (B, 3, H, W) [-1, 1], mask_onehot (B, C, H, W) -> {"loss": mean CE, "pixel_acc": batch
    accuracy, estimated on every 4th row and column (a logging figure)}."""
    logits = model(images)
    pred = jt.argmax(logits.detach()[:, :, ::4, ::4], dim=1)[0]
    truth = jt.argmax(mask_onehot[:, :, ::4, ::4], dim=1)[0]
    return {"loss": pixel_cross_entropy(logits, mask_onehot), "pixel_acc": (pred == truth).float32().mean()}


def make_task(model_cfg: SegmenterConfig, optim_cfg: OptimConfig, train_cfg: TrainConfig,
              data_cfg: DataConfig) -> TrainTask:
    """The segmenter's TrainTask: one phase, images and label maps only."""
    seed_everything(train_cfg.seed)
    model = Segmenter(model_cfg)
    updater = Updater(dict(model.named_parameters()), optim_cfg, train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="segmenter")

    def loss_fn(batch: dict, step: int) -> dict:
        model.train()
        return segmentation_loss(model, batch["image"], batch["mask_onehot"])

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
    task = make_task(model_cfg, optim_cfg, train_cfg, data_cfg)
    return run_training(task, train_cfg, loader, run_dir, resume=resume, progress=progress)
