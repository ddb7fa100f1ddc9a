"""×2 post-processing of a half-resolution generator (LGGAN's published pipeline: 256x192 -> 512x384,
bicubic or RCAN, seeds.md §2), and RCAN's PSNR against bicubic.

A pipeline is a checkpoint of kind "sr-pipeline" (`compose`): the RCAN weights (none for bicubic),
and in its metadata the base generator checkpoint's path, kind and digest. evaluation/registry.py
loads the base through its own table (so any registered generator can be the base) and calls
`wrap(path, base)`. The wrapped generator follows the registry contract: for a mask of size H x W
(even) it samples the base on the nearest-downsampled mask (and the bicubic-downsampled reference)
at H/2 x W/2, then upsamples ×2.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from lsgen import checkpoint as ckpt
from lsgen.data.io import from_model_image, onehot, resize_image, resize_label, to_model_image

KIND = "sr-pipeline"
UPSAMPLERS = ("bicubic", "rcan")


def bicubic_up2(images: np.ndarray) -> np.ndarray:
    """(B,3,h,w) in [-1,1] -> (B,3,2h,2w): Pillow bicubic on the uint8 images (the seed's baseline)."""
    return np.stack([to_model_image(resize_image(from_model_image(im), 2 * im.shape[2], 2 * im.shape[1]))
                     for im in images])


class RCANUpsampler:
    """An RCAN module (eval mode) as a numpy function (B,3,h,w) [-1,1] -> (B,3,2h,2w) [-1,1] (clipped)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, images: np.ndarray) -> np.ndarray:
        from lsgen.runtime import jt  # noqa: PLC0415

        self.model.eval()
        with jt.no_grad():
            out = self.model(jt.array(np.asarray(images, dtype=np.float32))).numpy()
        return np.clip(out, -1.0, 1.0)


def half_size_inputs(mask_onehot: np.ndarray, ref_image: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(B,29,H,W) one-hot, (B,3,H,W) [-1,1] or None -> the same at H/2 x W/2: labels by the data
    pipeline's nearest resize, references by its bicubic resize."""
    _, _, h, w = mask_onehot.shape
    if h % 2 or w % 2:
        raise ValueError(f"sr-pipeline: mask size {w}x{h} is not even")
    ids = np.asarray(mask_onehot).argmax(axis=1)
    small = onehot(np.stack([resize_label(m, w // 2, h // 2) for m in ids]))
    if ref_image is None:
        return small, None
    refs = np.stack([to_model_image(resize_image(from_model_image(r), w // 2, h // 2)) for r in ref_image])
    return small, refs


class SRPipeline:
    """A registry generator: `base` at half resolution, then `upsample` ×2."""

    def __init__(self, base, upsample: Callable[[np.ndarray], np.ndarray], upsampler_name: str):
        self.base, self.upsample = base, upsample
        self.name = f"{base.name}+{upsampler_name}"
        self.conditional = getattr(base, "conditional", True)

    def sample(self, mask_onehot: np.ndarray, ref_image: np.ndarray | None, seed: int) -> np.ndarray:
        small_mask, small_ref = half_size_inputs(np.asarray(mask_onehot), ref_image)
        images = np.asarray(self.base.sample(small_mask, small_ref, seed), dtype=np.float32)
        return self.upsample(images).astype(np.float32)


def compose(base_path: str | Path, out_path: str | Path, rcan_path: str | Path | None = None) -> Path:
    """Write an "sr-pipeline" checkpoint: base generator (by path + digest) + RCAN weights (EMA when
    present) or, without `rcan_path`, bicubic."""
    base_path = Path(base_path).resolve()
    base_meta = ckpt.read_metadata(base_path)
    extra = {"base_checkpoint": str(base_path), "base_digest": ckpt.file_digest(base_path),
             "base_kind": base_meta["kind"], "upsampler": "bicubic" if rcan_path is None else "rcan"}
    arrays, config = {}, {}
    if rcan_path is not None:
        from gan.rcan import KIND as RCAN_KIND  # noqa: PLC0415

        rcan_meta = ckpt.read_metadata(rcan_path)
        if rcan_meta["kind"] != RCAN_KIND:
            raise ckpt.CheckpointError(f"{rcan_path}: kind {rcan_meta['kind']!r} is not an RCAN ({RCAN_KIND})")
        weights = ckpt.read_arrays(rcan_path)
        prefix = "ema." if any(k.startswith("ema.") for k in weights) else ""
        arrays = {k[len(prefix):]: v for k, v in weights.items() if k.startswith("ema.") == bool(prefix)}
        config = rcan_meta["config"]
        extra.update(rcan_checkpoint=str(Path(rcan_path).resolve()), rcan_step=rcan_meta["step"])
    ckpt.save_weights(out_path, arrays, KIND, config, base_meta["step"], extra)
    return Path(out_path)


def wrap(path: str | Path, load_base: Callable[[Path], Any]) -> SRPipeline:
    """Registry side of kind "sr-pipeline": check the base is unchanged, load it with `load_base`
    (the registry's loader), rebuild the upsampler from the file."""
    meta = ckpt.read_metadata(path)
    base_path = Path(meta["base_checkpoint"])
    if not base_path.is_file():
        raise ckpt.CheckpointError(f"{path}: its base checkpoint {base_path} is missing")
    if ckpt.file_digest(base_path) != meta["base_digest"]:
        raise ckpt.CheckpointError(f"{path}: its base checkpoint {base_path} changed since it was composed; "
                                   "compose the pipeline again")
    base = load_base(base_path)
    if meta["upsampler"] == "bicubic":
        return SRPipeline(base, bicubic_up2, "bicubic")
    from lsgen.config import from_dict  # noqa: PLC0415
    from gan.rcan import RCAN, RCANConfig  # noqa: PLC0415 - imports Jittor

    model = RCAN(from_dict(RCANConfig, meta["config"], prefix="model."))
    ckpt.load_module(model, ckpt.read_arrays(path), what=f"{path} RCAN")
    model.eval()
    return SRPipeline(base, RCANUpsampler(model), "rcan")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (H,W,3) over all channels: 10 log10(255² / MSE)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def psnr_vs_bicubic(upsample: Callable[[np.ndarray], np.ndarray], pairs, limit: int | None = None,
                    batch_size: int = 8) -> dict[str, float]:
    """Mean per-image PSNR (uint8 RGB) of `upsample` and of bicubic ×2 against the HR photos of an
    SRPairs split (whole frames). Returns {"model", "bicubic", "n"}."""
    n = len(pairs) if limit is None else min(limit, len(pairs))
    model_scores, bicubic_scores = [], []
    for start in range(0, n, batch_size):
        items = [pairs.load(i) for i in range(start, min(start + batch_size, n))]
        lr = np.stack([it["lr_image"] for it in items])
        for hr, ours, cubic in zip((it["image"] for it in items), upsample(lr), bicubic_up2(lr)):
            truth = from_model_image(hr)
            model_scores.append(psnr(from_model_image(ours), truth))
            bicubic_scores.append(psnr(from_model_image(cubic), truth))
    return {"model": float(np.mean(model_scores)), "bicubic": float(np.mean(bicubic_scores)), "n": n}
