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


def segmentation_loss(model: Segmenter, images, mask_ids) -> dict:
    """images (B, 3, H, W) [-1, 1], mask_ids (B, H, W) int -> {"loss": mean CE, "pixel_acc": batch acc}."""
    logits = model(images)
    loss = jt.nn.cross_entropy_loss(logits, mask_ids)
    pred = jt.argmax(logits.detach(), dim=1)[0]
    return {"loss": loss, "pixel_acc": (pred == mask_ids).float32().mean()}


def make_task(model_cfg: SegmenterConfig, optim_cfg: OptimConfig, train_cfg: TrainConfig,
              data_cfg: DataConfig) -> TrainTask:
    """The segmenter's TrainTask: one phase, images and label maps only."""
    seed_everything(train_cfg.seed)
    model = Segmenter(model_cfg)
    updater = Updater(dict(model.named_parameters()), optim_cfg, train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="segmenter")

    def loss_fn(batch: dict, step: int) -> dict:
        model.train()
        return segmentation_loss(model, batch["image"], batch["mask_ids"])

    def to_batch(batch: dict) -> dict:
        return {"image": jt.array(batch["image"]), "mask_ids": jt.array(batch["mask_ids"])}

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
