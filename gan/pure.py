"""APF-GAN's pure-class replacement, an optional test-time step reported separately (seeds.md §4).

Bank: every training photo whose label map is a single class (APF: np.ptp(label) == 0), by class.
At test, a mask whose most frequent class covers >= `threshold` (APF 98%) of its pixels gets those
pixels replaced by a bank photo of that class, drawn at random with replacement (APF popped from
a list and failed when a class ran out). It pastes real training photos, so it flatters FID and
is semantically blind: evaluate it as its own row (kind "gan-pure"), never silently.

A "gan-pure" checkpoint holds the generator's arrays, the bank as `pure.<class>` (N,H,W,3) uint8
arrays, and in its metadata `generator_kind`, `config`, `threshold`: it alone rebuilds the sampler.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lsgen import checkpoint as ckpt
from lsgen.config import from_dict
from lsgen.data.io import from_model_image, to_model_image

KIND = "gan-pure"
PURE_THRESHOLD = 0.98


def build_bank(dataset, limit: int | None = None) -> dict[int, np.ndarray]:
    """Single-class training photos of a LandscapeDataset: class id -> (N,H,W,3) uint8."""
    bank: dict[int, list] = {}
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(n):
        sample = dataset.load(i)
        ids = sample["mask_ids"]
        if ids.min() == ids.max():
            bank.setdefault(int(ids.flat[0]), []).append(from_model_image(sample["image"]))
    return {c: np.stack(photos) for c, photos in bank.items()}


def replace_pure(images: np.ndarray, mask_ids: np.ndarray, bank: dict[int, np.ndarray], seed: int,
                 threshold: float = PURE_THRESHOLD) -> tuple[np.ndarray, int]:
    """images (B,3,H,W) in [-1,1], mask_ids (B,H,W) -> (images with near-pure masks' dominant class
    pixels replaced by bank photos, number of images changed). Deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    out = images.copy()
    changed = 0
    for b, ids in enumerate(mask_ids):
        counts = np.bincount(ids.ravel())
        cls = int(counts.argmax())
        if counts[cls] < threshold * ids.size or cls not in bank:
            continue
        photo = to_model_image(bank[cls][rng.integers(len(bank[cls]))])
        if photo.shape != images.shape[1:]:
            raise ValueError(f"bank photo {photo.shape} does not match the image size {images.shape[1:]}")
        region = ids == cls
        out[b][:, region] = photo[:, region]
        changed += 1
    return out, changed


class PureSampler:
    """Wraps a GANSampler: sample, then replace_pure (same registry contract)."""

    def __init__(self, base, bank: dict[int, np.ndarray], threshold: float):
        self.base, self.bank, self.threshold = base, bank, threshold
        self.name = f"{base.name}+pure"

    def sample(self, mask_onehot: np.ndarray, ref_image: np.ndarray | None, seed: int) -> np.ndarray:
        images = self.base.sample(mask_onehot, ref_image, seed)
        return replace_pure(images, np.asarray(mask_onehot).argmax(axis=1), self.bank, seed, self.threshold)[0]


def save_pure(generator_path: str | Path, bank: dict[int, np.ndarray], out_path: str | Path,
              threshold: float = PURE_THRESHOLD) -> Path:
    """Write a "gan-pure" checkpoint: the generator's arrays + the bank."""
    meta = ckpt.read_metadata(generator_path)
    arrays = dict(ckpt.read_arrays(generator_path))
    arrays.update({f"pure.{c}": photos for c, photos in bank.items()})
    extra = {"generator_kind": meta["kind"], "threshold": threshold,
             "bank_sizes": {str(c): len(p) for c, p in sorted(bank.items())}}
    ckpt.save_weights(out_path, arrays, KIND, meta["config"], meta["step"], extra)
    return Path(out_path)


def load_pure(path: str | Path) -> PureSampler:
    """Registry loader for kind "gan-pure"."""
    from gan.models import KIND_TO_MODEL, MODELS  # noqa: PLC0415 - imports Jittor
    from gan.sample import GANSampler  # noqa: PLC0415

    meta = ckpt.read_metadata(path)
    arrays = ckpt.read_arrays(path)
    name = KIND_TO_MODEL[meta["generator_kind"]]
    spec = MODELS[name]
    model = spec.model_class(from_dict(spec.config_class, meta["config"], prefix="model."))
    weights = {k: v for k, v in arrays.items() if not k.startswith("pure.")}
    prefix = "ema." if any(k.startswith("ema.") for k in weights) else ""
    ckpt.load_module(model, {k: v for k, v in weights.items() if k.startswith(prefix) or not prefix},
                     what=f"{path} generator", prefix=prefix)
    model.eval()
    bank = {int(k.split(".")[1]): v for k, v in arrays.items() if k.startswith("pure.")}
    return PureSampler(GANSampler(model, name), bank, float(meta["threshold"]))
