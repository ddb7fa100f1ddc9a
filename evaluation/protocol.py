"""The benchmark protocol `synth-bench` and the data an evaluation reads.

synth-bench (made once, deterministic):
    python scripts/make_synthetic.py --out data/synth-bench --n 2200 --size 128x96 --seed 0 --n-test 200
    train split: 2,000 of the 2,200 pairs (DataConfig val_fraction 200/2200, split_seed 0) — what
                 generators and the segmenter train on, and the FD/FID reference set (the contest
                 measures FID against the training images);
    val split:   the other 200 pairs — held-out real images for the segmenter's ceiling;
    test split:  200 masks, each with its reference photo (a train image) and a ground-truth image
                 rendered in the reference's style — the masks every generator is evaluated on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from lsgen.data.dataset import DataConfig, LandscapeDataset
from lsgen.data.io import from_model_image

SYNTH_BENCH = DataConfig(root="data/synth-bench", width=128, height=96, val_fraction=200 / 2200,
                         split_seed=0, flip=False)
SYNTH_BENCH_COMMAND = ("python scripts/make_synthetic.py --out data/synth-bench --n 2200 --size 128x96 "
                       "--seed 0 --n-test 200")


@dataclass
class ImageSet:
    """Images of one split at the protocol size. images/refs: (N, H, W, 3) uint8 or None;
    masks: (N, H, W) int32; ref_masks: the references' labels (N, H, W) int32 or None."""
    names: list[str]
    masks: np.ndarray
    images: np.ndarray | None
    refs: np.ndarray | None
    ref_masks: np.ndarray | None = None


def load_split(cfg: DataConfig, split: str, limit: int | None = None, progress: bool = False) -> ImageSet:
    """Read `split` ('train', 'val' or 'test') of the dataset `cfg` (no flips), at most `limit` items
    (the first ones in name order)."""
    cfg = DataConfig(**{**cfg.__dict__, "flip": False})
    dataset = LandscapeDataset(cfg, split)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    masks, images, refs, ref_masks = [], [], [], []
    for i in tqdm(range(n), desc=f"read {split}", disable=not progress, leave=False):
        sample = dataset.load(i)
        masks.append(sample["mask_ids"])
        if "ref_mask_ids" in sample:
            ref_masks.append(sample["ref_mask_ids"])
        if "image" in sample:
            images.append(from_model_image(sample["image"]))
        if "ref_image" in sample:
            refs.append(from_model_image(sample["ref_image"]))
    return ImageSet(dataset.names[:n], np.stack(masks), np.stack(images) if len(images) == n else None,
                    np.stack(refs) if len(refs) == n else None, np.stack(ref_masks) if len(ref_masks) == n else None)
