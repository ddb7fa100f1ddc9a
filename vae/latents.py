"""Loading a trained VAE, its data-derived latent scale, and the latent cache of a dataset.

- `load_vae(path)` rebuilds the autoencoder from a checkpoint alone. It loads the EMA weights
  (`ema.` keys) when the checkpoint has them, else the raw weights; `metadata["weights"]` says which.
- The latent scale is 1/std of posterior samples over a sample of the training images (LDM's
  `scale_factor`, there 0.18215 for SD's VAE; computed here for *this* VAE, never hard-coded). The
  trainer stores it as `latent_scale` in the final checkpoint's metadata; the diffusion stage reads
  it with `lsgen.checkpoint.read_metadata` (or `load_vae`) and trains on latents * latent_scale.
- The cache (`scripts/encode_latents.py`) keeps the posterior mean and log-variance of every image
  of a split, and of its horizontal flip, in one safetensors file per split. Its metadata holds the
  SHA-256 digest of the VAE checkpoint file; `load_latent_cache` refuses a cache made by another VAE.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm import tqdm

from lsgen.checkpoint import (CheckpointError, atomic_save_arrays, file_digest, load_weights,
                              read_arrays, read_metadata)
from lsgen.config import from_dict
from lsgen.data.dataset import find_layout
from lsgen.data.io import onehot, read_label, resize_label
from lsgen.runtime import jt

from vae.model import AutoencoderKL, VAEConfig

KIND = "vae"
CACHE_FORMAT = "lsgen-latents/1"


class LatentCacheError(CheckpointError):
    """A latent cache that is missing, malformed, or was made by a different VAE checkpoint."""


def load_vae(path: str | Path, weights: str = "auto") -> tuple[AutoencoderKL, dict]:
    """Rebuild an AutoencoderKL from a checkpoint file. weights: 'auto' (EMA if present, see the
    module doc), 'ema' (error if absent) or 'raw'.

    Returns (model in eval mode, metadata) where metadata has `config` (dict), `step` (int),
    `weights` ('ema' or 'raw'), `latent_scale` (float, or None before training finished) and the
    other extras JSON-decoded (`image_size` [W, H], `data_root`, `latent_std`, ...).
    """
    meta = read_metadata(path)
    if meta["kind"] != KIND:
        raise CheckpointError(f"{path}: checkpoint kind is {meta['kind']!r}, expected {KIND!r}")
    model = AutoencoderKL(from_dict(VAEConfig, meta["config"], prefix="model."))
    if weights not in ("auto", "ema", "raw"):
        raise ValueError(f"weights must be auto, ema or raw, got {weights!r}")
    has_ema = any(k.startswith("ema.") for k in _array_names(path))
    if weights == "ema" and not has_ema:
        raise CheckpointError(f"{path}: no EMA weights in this checkpoint")
    use_ema = has_ema and weights != "raw"
    load_weights(model, path, kind=KIND, prefix="ema." if use_ema else "")
    for key in set(meta) - {"format", "kind", "config", "step", "dtype"}:
        meta[key] = _json_or_text(meta[key])
    meta["weights"] = "ema" if use_ema else "raw"
    meta["latent_scale"] = float(meta["latent_scale"]) if "latent_scale" in meta else None
    model.eval()
    return model, meta


def _json_or_text(value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _array_names(path: str | Path) -> list[str]:
    from safetensors import safe_open  # noqa: PLC0415

    with safe_open(str(path), framework="numpy") as handle:
        return list(handle.keys())


def encode_moments(vae: AutoencoderKL, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """images (B,3,H,W) float32 [-1,1] -> posterior (mean, logvar), each (B,C,H/f,W/f) float32."""
    with jt.no_grad():
        posterior = vae.encode(jt.array(images))
        return posterior.mean.numpy(), posterior.logvar.numpy()


def batches(dataset, batch_size: int, limit: int | None = None) -> Iterable[np.ndarray]:
    """Stacked `image` arrays of the dataset's first `limit` samples (all by default), in order."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for start in range(0, n, batch_size):
        yield np.stack([dataset.load(i)["image"] for i in range(start, min(n, start + batch_size))])


def compute_latent_scale(vae: AutoencoderKL, dataset, max_images: int = 256, batch_size: int = 8,
                         seed: int = 0) -> dict:
    """1/std of posterior samples z ~ q(z|x) over the first `max_images` images of `dataset`.

    Returns {"latent_scale", "latent_mean", "latent_std", "latent_scale_images"} (floats/int).
    """
    rng = np.random.default_rng(seed)
    total, total_sq, count = 0.0, 0.0, 0
    for images in batches(dataset, batch_size, max_images):
        mean, logvar = encode_moments(vae, images)
        z = mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape).astype(np.float32)
        total += float(z.astype(np.float64).sum())
        total_sq += float((z.astype(np.float64) ** 2).sum())
        count += z.size
    if count == 0:
        raise ValueError("latent scale: the dataset is empty")
    mu = total / count
    std = float(np.sqrt(max(total_sq / count - mu * mu, 1e-12)))
    n_images = min(max_images, len(dataset))
    return {"latent_scale": 1.0 / std, "latent_mean": mu, "latent_std": std, "latent_scale_images": n_images}


# --- the latent cache ---------------------------------------------------------------------
def encode_split(vae: AutoencoderKL, dataset, batch_size: int = 8, flip: bool = True,
                 progress: bool = True) -> dict[str, np.ndarray]:
    """Posterior moments of every image of `dataset` (no augmentation) and, if `flip`, of its
    horizontal mirror: {"mean", "logvar"[, "mean_flip", "logvar_flip"]}, each (N,C,h,w) float32."""
    out: dict[str, list] = {"mean": [], "logvar": []}
    if flip:
        out.update(mean_flip=[], logvar_flip=[])
    bar = tqdm(total=len(dataset), desc="encode", disable=not progress, unit="img")
    for images in batches(dataset, batch_size):
        for suffix, batch in (("", images), ("_flip", images[..., ::-1])) if flip else (("", images),):
            mean, logvar = encode_moments(vae, np.ascontiguousarray(batch))
            out["mean" + suffix].append(mean)
            out["logvar" + suffix].append(logvar)
        bar.update(len(images))
    bar.close()
    return {k: np.concatenate(v) for k, v in out.items()}


def write_latent_cache(path: str | Path, arrays: dict[str, np.ndarray], vae_path: str | Path,
                       names: list[str], info: dict) -> None:
    """Write one split's cache atomically. info: JSON-able extras (split, image_size, data_root...)."""
    meta = read_metadata(vae_path)
    if "latent_scale" not in meta:
        raise CheckpointError(f"{vae_path}: no latent_scale in its metadata (training did not finish?)")
    metadata = {"format": CACHE_FORMAT, "vae_digest": file_digest(vae_path), "vae_path": str(vae_path),
                "latent_scale": meta["latent_scale"], "names": json.dumps(names),
                **{k: json.dumps(v) for k, v in info.items()}}
    atomic_save_arrays(path, arrays, metadata)


def load_latent_cache(path: str | Path, vae_path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a cache and check it was made by exactly the checkpoint file at `vae_path`.

    Returns (arrays, metadata with `latent_scale` float, `names` list and the JSON extras decoded).
    """
    from safetensors import safe_open  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise LatentCacheError(f"{path}: latent cache not found (run scripts/encode_latents.py)")
    with safe_open(str(path), framework="numpy") as handle:
        raw = dict(handle.metadata() or {})
    if raw.get("format") != CACHE_FORMAT:
        raise LatentCacheError(f"{path}: not a latent cache (format={raw.get('format')!r})")
    digest = file_digest(vae_path)
    if raw["vae_digest"] != digest:
        raise LatentCacheError(f"{path}: made by a different VAE (digest {raw['vae_digest']}, "
                               f"{vae_path} has {digest}); re-run scripts/encode_latents.py")
    meta = {k: (v if k in ("format", "vae_digest", "vae_path") else json.loads(v)) for k, v in raw.items()}
    meta["latent_scale"] = float(meta["latent_scale"])
    return read_arrays(path), meta


class LatentDataset:
    """A split's cached posteriors for UNet training, with its label maps read from the dataset.

    load(i, rng): with rng, a joint flip (p=0.5, using the cached flipped posterior) and a sample
    z ~ N(mean, exp(logvar)); without rng, the posterior mean. Returns {"latents" (C,h,w) float32
    already multiplied by latent_scale, "mask_ids" (H,W) int32, "mask_onehot" (29,H,W) float32}.
    """

    def __init__(self, cache_path: str | Path, vae_path: str | Path, data_root: str | Path | None = None):
        self.arrays, self.meta = load_latent_cache(cache_path, vae_path)
        self.split = self.meta.get("split", "train")
        self.scale = self.meta["latent_scale"]
        self.width, self.height = self.meta["image_size"]
        labels_dir = find_layout(data_root or self.meta["data_root"]).labels_dir
        self.label_paths = [labels_dir / f"{name}.png" for name in self.meta["names"]]
        self.has_flip = "mean_flip" in self.arrays

    def __len__(self) -> int:
        return len(self.label_paths)

    def subset(self, indices: list[int]) -> "LatentDataset":
        """A view of the items `indices`, in that order: arrays, label paths and meta["names"] follow
        (e.g. one style subset of the data, lsgen.data.style_filter)."""
        index = np.asarray(indices, dtype=np.int64)
        view = copy.copy(self)
        view.arrays = {key: value[index] for key, value in self.arrays.items()}
        view.label_paths = [self.label_paths[i] for i in index]
        view.meta = {**self.meta, "names": [self.meta["names"][i] for i in index]}
        return view

    def load(self, index: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        flip = self.has_flip and rng is not None and rng.random() < 0.5
        suffix = "_flip" if flip else ""
        mean, logvar = self.arrays["mean" + suffix][index], self.arrays["logvar" + suffix][index]
        latents = mean if rng is None else mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape)
        mask_ids = resize_label(read_label(self.label_paths[index]), self.width, self.height)
        if flip:
            mask_ids = np.ascontiguousarray(mask_ids[:, ::-1])
        return {"latents": (latents * self.scale).astype(np.float32), "mask_ids": mask_ids,
                "mask_onehot": onehot(mask_ids), "flipped": np.array(flip)}
