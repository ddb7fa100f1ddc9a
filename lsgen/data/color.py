"""Colour utilities shared by generators and metrics: sRGB <-> CIE Lab, and colour transfer."""
from __future__ import annotations

import numpy as np

# sRGB (D65) -> XYZ matrix (IEC 61966-2-1) and the D65 white point.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPS, _KAPPA = 216 / 24389, 24389 / 27


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB -> (..., 3) float64 CIE Lab (L in [0, 100])."""
    c = np.asarray(image, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) CIE Lab -> (..., 3) uint8 sRGB (clipped)."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA) * _WHITE
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0, 1)
    c = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(c * 255), 0, 255).astype(np.uint8)


def match_color(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001 colour transfer: give `image` the per-channel Lab mean and std of
    `reference`. Both (H, W, 3) uint8 (sizes may differ) -> (H, W, 3) uint8."""
    src, ref = rgb_to_lab(image), rgb_to_lab(reference)
    src_mean, src_std = src.reshape(-1, 3).mean(0), src.reshape(-1, 3).std(0) + 1e-6
    ref_mean, ref_std = ref.reshape(-1, 3).mean(0), ref.reshape(-1, 3).std(0)
    return lab_to_rgb((src - src_mean) / src_std * ref_std + ref_mean)
