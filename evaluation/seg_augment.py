"""Training-time augmentation of the segmenter judge: translation and photometric distortion.

Numpy only, per sample, driven by the loader's per-sample RNG (so a resumed run sees the same
stream). Flip is the dataset's own (DataConfig.flip); zoom (DataConfig.crop_scale) cost the judge
accuracy at its native scale (RESULTS, judge v3), so only scale-preserving transforms live here:

- shift: the photo and its label translated together by an integer (dx, dy), each uniform in
  [-shift, shift] pixels, reflect-padded. The stride-4 patch embedding makes the judge depend on
  the sub-patch phase of an image (averaging its logits over shifts bought +0.6 points, RESULTS
  session 10); training on shifted copies asks for that invariance directly.
- photometric (the photo only; mmsegmentation's PhotoMetricDistortion in spirit): a gamma
  exp(U[-g, g]), a saturation factor U[1-s, 1+s] about the per-pixel grey, and a hue rotation of
  U[-h, h] radians about the grey axis of RGB space. Per-channel gain and offset are left out:
  the judge standardises each channel of its input, which removes them anyway.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_GREY_AXIS = np.full(3, 1.0 / np.sqrt(3.0))


@dataclass
class SegAugConfig:
    """The `augment` section of a segmenter config; all zero = no augmentation."""
    shift: int = 0            # max translation in pixels on each axis
    gamma: float = 0.0        # log-gamma half-range g
    saturation: float = 0.0   # saturation factor half-range s, < 1
    hue: float = 0.0          # hue rotation half-range h in radians

    def __post_init__(self):
        if self.shift < 0 or self.gamma < 0 or self.hue < 0 or not 0 <= self.saturation < 1:
            raise ValueError(f"augment: shift, gamma, hue must be >= 0 and saturation in [0, 1), got {self}")

    @property
    def photometric(self) -> bool:
        return self.gamma > 0 or self.saturation > 0 or self.hue > 0


def translate(array: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """(..., H, W) array moved right by dx and down by dy pixels: out[..., y, x] = in[..., y-dy, x-dx]
    where that is inside the frame; the uncovered margin mirrors the frame (reflect padding).
    |dx| < W and |dy| < H."""
    h, w = array.shape[-2:]
    pad = [(0, 0)] * (array.ndim - 2) + [(abs(dy), abs(dy)), (abs(dx), abs(dx))]
    padded = np.pad(array, pad, mode="reflect")
    top, left = abs(dy) - dy, abs(dx) - dx
    return np.ascontiguousarray(padded[..., top:top + h, left:left + w])


def hue_rotation(angle: float) -> np.ndarray:
    """(3, 3) matrix rotating RGB vectors by `angle` radians about the grey axis (1, 1, 1)/sqrt(3)
    (Rodrigues' formula); greys are fixed points."""
    k = _GREY_AXIS
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) * np.cos(angle) + np.sin(angle) * cross + (1 - np.cos(angle)) * np.outer(k, k)


def photometric(image: np.ndarray, gamma: float, saturation: float, hue_angle: float) -> np.ndarray:
    """(3, H, W) float32 photo in [-1, 1] -> the same with intensities raised to `gamma` (on [0, 1]),
    chroma scaled by `saturation` about the per-pixel channel mean, then hue rotated by `hue_angle`
    radians; clipped to [-1, 1]. gamma = saturation = 1, hue_angle = 0 is the identity."""
    x = np.clip((image.astype(np.float64) + 1.0) * 0.5, 0.0, 1.0) ** gamma
    grey = x.mean(axis=0, keepdims=True)
    x = grey + saturation * (x - grey)
    x = np.einsum("ij,jhw->ihw", hue_rotation(hue_angle), x)
    return (np.clip(x, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


def augment_sample(sample: dict, rng: np.random.Generator, cfg: SegAugConfig) -> dict:
    """A dataset sample ({"image": (3, H, W), "mask_ids": (H, W), "mask_onehot": (C, H, W), ...})
    -> a new dict, photo and labels shifted together, the photo photometrically distorted."""
    out = dict(sample)
    if cfg.shift > 0:
        dx, dy = (int(v) for v in rng.integers(-cfg.shift, cfg.shift + 1, 2))
        for key in ("image", "mask_ids", "mask_onehot"):
            if key in out:
                out[key] = translate(out[key], dx, dy)
    if cfg.photometric and "image" in out:
        gamma = float(np.exp(rng.uniform(-cfg.gamma, cfg.gamma)))
        saturation = float(rng.uniform(1 - cfg.saturation, 1 + cfg.saturation))
        out["image"] = photometric(out["image"], gamma, saturation, float(rng.uniform(-cfg.hue, cfg.hue)))
    return out


class AugmentedDataset:
    """A LandscapeDataset whose training samples pass through augment_sample; samples loaded
    without an RNG (evaluation) are returned untouched."""

    def __init__(self, dataset, cfg: SegAugConfig):
        self.dataset, self.cfg = dataset, cfg
        self.split = dataset.split

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self, index: int, rng: np.random.Generator | None = None) -> dict:
        sample = self.dataset.load(index, rng)
        return sample if rng is None else augment_sample(sample, rng, self.cfg)
