"""Trivial reference generators: the floor under every learned model.

class-colour: paints each class of the mask with that class's mean colour over the training
images (fitted once, stored as a (29, 3) checkpoint of kind "class-colour"). It reproduces the
layout perfectly and no texture at all, so the judge's accuracy on it shows how much of mask
accuracy colour alone explains. `shuffled_colours` permutes those colours between classes (a
sanity input whose statistics are realistic but whose semantics are wrong).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from lsgen import checkpoint as ckpt
from lsgen.data.classes import NUM_CLASSES

KIND = "class-colour"


def fit_class_colours(dataset, limit: int | None = None, progress: bool = False) -> np.ndarray:
    """Mean colour per class over `dataset`'s images: (29, 3) float32 in [-1, 1]; classes never
    seen get the overall mean colour."""
    sums = np.zeros((NUM_CLASSES, 3), np.float64)
    counts = np.zeros(NUM_CLASSES, np.float64)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for i in tqdm(range(n), desc="class colours", disable=not progress):
        sample = dataset.load(i)
        ids = sample["mask_ids"].ravel()
        pixels = sample["image"].reshape(3, -1).T
        np.add.at(sums, ids, pixels)
        counts += np.bincount(ids, minlength=NUM_CLASSES)
    overall = sums.sum(0) / max(counts.sum(), 1)
    means = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], overall)
    return means.astype(np.float32)


def save_class_colours(path: str | Path, colours: np.ndarray, data_root: str) -> None:
    ckpt.save_weights(path, {"colours": colours}, KIND, {"num_classes": NUM_CLASSES}, step=0,
                      extra={"data_root": data_root})


def paint(mask_onehot: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(B, 29, H, W) one-hot and (29, 3) colours -> (B, 3, H, W) float32 images."""
    return np.einsum("bchw,cd->bdhw", mask_onehot, colours).astype(np.float32)


class ClassColourGenerator:
    name = "class-colour"

    def __init__(self, colours: np.ndarray):
        self.colours = colours

    def sample(self, mask_onehot: np.ndarray, ref_image: np.ndarray | None, seed: int) -> np.ndarray:
        return paint(mask_onehot, self.colours)


def load_class_colour(path: Path) -> ClassColourGenerator:
    """Registry loader for kind "class-colour"."""
    return ClassColourGenerator(ckpt.read_arrays(path)["colours"])


def shuffled_colours(colours: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same colours assigned to a random derangement of the classes (no class keeps its own)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(colours))
        if not np.any(order == np.arange(len(colours))):
            return colours[order]
