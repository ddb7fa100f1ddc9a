"""Training RCAN ×2 on (downsampled real, real) pairs through lsgen's one loop (one phase, L1).

Pairs come from the shared data pipeline: a LandscapeDataset at the high resolution (data.width ×
data.height, the photo resized bicubically from its file) gives the target; the input is that
photo downsampled ×2 with Pillow's antialiased bicubic (the seed built its pairs the same way,
seeds.md §2). `sr.patch` > 0 trains on aligned random crops (HR patch p, LR patch p/2) drawn from
the loader's per-sample RNG, as RCAN does with 96-pixel patches; 0 uses whole frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.io import from_model_image, resize_image, to_model_image
from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt, seed_everything, set_precision
from lsgen.train.loop import Phase, TrainConfig, TrainTask, run_training
from lsgen.train.optim import OptimConfig, Updater

from gan.losses import l1_loss
from gan.rcan import KIND, RCAN, RCANConfig


@dataclass
class SRConfig:
    """The `sr` section: how training pairs are cut."""
    patch: int = 0                     # HR patch side (even, <= the image's sides); 0 = whole frames

    def __post_init__(self):
        if self.patch < 0 or self.patch % 2:
            raise ValueError(f"sr.patch must be 0 or a positive even number, got {self.patch}")


SECTIONS = {"model": RCANConfig, "sr": SRConfig, "optim": OptimConfig, "train": TrainConfig, "data": DataConfig}


def downsample2(image: np.ndarray) -> np.ndarray:
    """(3, H, W) float in [-1, 1] (H, W even) -> (3, H/2, W/2): Pillow bicubic with antialiasing,
    through uint8 like every photo of the data pipeline."""
    _, h, w = image.shape
    return to_model_image(resize_image(from_model_image(image), w // 2, h // 2))


class SRPairs:
    """A LandscapeDataset's photos as SR pairs: load(i, rng) -> {"image": (3,H,W), "lr_image":
    (3,H/2,W/2)} (or p x p / p/2 x p/2 patches), both in [-1, 1]. The protocol BatchLoader needs."""

    def __init__(self, dataset: LandscapeDataset, patch: int = 0):
        cfg = dataset.cfg
        if cfg.width % 2 or cfg.height % 2:
            raise ValueError(f"SR data size {cfg.width}x{cfg.height} must be even (x2 pairs)")
        if patch > min(cfg.width, cfg.height):
            raise ValueError(f"sr.patch {patch} exceeds the image size {cfg.width}x{cfg.height}")
        self.dataset, self.patch, self.split = dataset, patch, dataset.split

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self, index: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        hr = self.dataset.load(index, rng)["image"]
        lr = downsample2(hr)
        if self.patch:
            half = self.patch // 2
            gen = rng if rng is not None else np.random.default_rng(index)
            y = int(gen.integers(0, lr.shape[1] - half + 1))
            x = int(gen.integers(0, lr.shape[2] - half + 1))
            lr = lr[:, y:y + half, x:x + half]
            hr = hr[:, 2 * y:2 * (y + half), 2 * x:2 * (x + half)]
        return {"image": np.ascontiguousarray(hr), "lr_image": np.ascontiguousarray(lr)}


def make_task(sections: dict) -> TrainTask:
    """RCAN's TrainTask: one phase "sr" minimising L1(RCAN(lr), hr) (the paper's and seed's loss)."""
    train_cfg = sections["train"]
    seed_everything(train_cfg.seed)
    model = RCAN(sections["model"])

    def sr_step(batch: dict, step: int) -> dict:
        model.train()
        return {"loss": l1_loss(model(batch["lr_image"]), batch["image"])}

    updater = Updater(dict(model.named_parameters()), sections["optim"], train_cfg.steps, train_cfg.grad_accum,
                      train_cfg.precision, name="rcan")
    data = sections["data"]
    meta = {"image_size": [data.width, data.height], "input_size": [data.width // 2, data.height // 2],
            "data_root": data.root}
    return TrainTask(kind=KIND, model=model, model_config=sections["model"], phases=[Phase("sr", updater, sr_step)],
                     to_batch=lambda b: {k: jt.array(b[k]) for k in ("image", "lr_image")},
                     extra_metadata=lambda: meta)


def train(sections: dict, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train RCAN on sections['data']'s train split; returns the final checkpoint path."""
    set_precision(sections["train"].precision)
    train_cfg = sections["train"]
    pairs = SRPairs(LandscapeDataset(sections["data"], "train"), sections["sr"].patch)
    loader = BatchLoader(pairs, train_cfg.batch_size, seed=train_cfg.seed)
    path = run_training(make_task(sections), train_cfg, loader, run_dir, resume=resume, progress=progress)
    set_precision("fp32")
    return Path(path)
