"""Reconstruction metrics in numpy: PSNR and SSIM on uint8 RGB images, and the bicubic baseline.

SSIM follows Wang et al. 2004 (eq. 13) with their constants: an 11x11 Gaussian window with
sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, valid positions only, averaged over RGB channels.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_RADIUS = 0.01, 0.03, 1.5, 5


def psnr(reference: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB of two same-shaped images (uint8 range by default)."""
    ref, out = _pair(reference, test)
    mse = float(np.mean((ref - out) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)


def _pair(reference, test) -> tuple[np.ndarray, np.ndarray]:
    ref, out = np.asarray(reference, np.float64), np.asarray(test, np.float64)
    if ref.shape != out.shape:
        raise ValueError(f"images differ in shape: {ref.shape} vs {out.shape}")
    return ref, out


def _gaussian_window() -> np.ndarray:
    x = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of (H, W) with the 1-D window along both axes."""
    k = len(window)
    rows = sum(window[i] * image[i:image.shape[0] - k + 1 + i, :] for i in range(k))
    return sum(window[i] * rows[:, i:rows.shape[1] - k + 1 + i] for i in range(k))


def ssim(reference: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Mean SSIM of (H, W, 3) or (H, W) images (uint8 range); 1.0 for identical images."""
    ref, out = _pair(reference, test)
    if ref.ndim == 2:
        ref, out = ref[..., None], out[..., None]
    if min(ref.shape[:2]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} px per side, got {ref.shape[:2]}")
    window = _gaussian_window()
    c1, c2 = (SSIM_K1 * peak) ** 2, (SSIM_K2 * peak) ** 2
    scores = []
    for ch in range(ref.shape[2]):
        a, b = ref[..., ch], out[..., ch]
        mu_a, mu_b = _filter_valid(a, window), _filter_valid(b, window)
        var_a = _filter_valid(a * a, window) - mu_a**2
        var_b = _filter_valid(b * b, window) - mu_b**2
        cov = _filter_valid(a * b, window) - mu_a * mu_b
        num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
        den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        scores.append(np.mean(num / den))
    return float(np.mean(scores))


def bicubic_round_trip(image: np.ndarray, factor: int) -> np.ndarray:
    """The natural baseline at compression f: (H, W, 3) uint8 -> bicubic down by f -> bicubic up."""
    height, width = image.shape[:2]
    if height % factor or width % factor:
        raise ValueError(f"image {width}x{height} is not divisible by {factor}")
    small = Image.fromarray(image).resize((width // factor, height // factor), Image.BICUBIC)
    return np.array(small.resize((width, height), Image.BICUBIC))
