"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) applied jointly to image and mask.

Applied to everything the discriminator sees, real and fake, in both the D and the G step
(Zhao et al. sec. 3, eq. 3-4), so G gets gradients through the augmentation. Policies (APF-GAN's
`color,crop,translation`, seeds.md §4), each with independent random parameters per sample:
    color        brightness + U(-0.5, 0.5); saturation ×U(0, 2) around the channel mean;
                 contrast ×U(0.5, 1.5) around the image mean — images only
    translation  integer shift up to 1/8 of H and W, zero padding (the mask's padding is the
                 all-zero one-hot, "no class")
    crop         with p = 0.5, zoom ×1.2 and crop back at a random offset
The geometric part is ONE source-coordinate map per sample used for both tensors: bilinear for the
image (differentiable), nearest for the one-hot mask (which stays an exact one-hot or all-zero).
Random numbers come from numpy's global RNG (saved by the training state) unless `rng` is given.
"""
from __future__ import annotations

import numpy as np

from lsgen.runtime import jt

POLICIES = ("color", "translation", "crop")
TRANSLATION_RATIO = 1 / 8
CROP_ZOOM = 1.2
CROP_PROB = 0.5


def parse_policy(policy: str) -> tuple[str, ...]:
    """'color,crop' -> ('color', 'crop'); '' -> (); unknown names raise ValueError."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for name in names:
        if name not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy {name!r} (known: {', '.join(POLICIES)})")
    return names


def color(images, rng) -> jt.Var:
    """DiffAugment's colour ops on (N,3,H,W) images in [-1,1] (independent draws per sample)."""
    n = images.shape[0]
    draw = lambda low, high: jt.array(rng.uniform(low, high, n).astype(np.float32)).reshape(n, 1, 1, 1)
    x = images + draw(-0.5, 0.5)
    mean = x.mean(dim=1, keepdims=True)
    x = (x - mean) * draw(0.0, 2.0) + mean
    mean = x.mean(dims=(1, 2, 3), keepdims=True)
    return (x - mean) * draw(0.5, 1.5) + mean


def geometry(n: int, h: int, w: int, translation: bool, crop: bool, rng) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample source coordinates (N,H,W) float32 (y, x) of every output pixel; NaN = padding."""
    zoom = np.ones(n)
    oy = np.zeros(n)
    ox = np.zeros(n)
    if crop:
        on = rng.random(n) < CROP_PROB
        zoom = np.where(on, CROP_ZOOM, 1.0)
        oy = np.floor(rng.random(n) * (np.floor(h * zoom) - h + 1)) * on
        ox = np.floor(rng.random(n) * (np.floor(w * zoom) - w + 1)) * on
    ty = np.zeros(n)
    tx = np.zeros(n)
    if translation:
        my, mx = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
        ty = np.floor(rng.random(n) * (2 * my + 1)) - my
        tx = np.floor(rng.random(n) * (2 * mx + 1)) - mx
    yy = np.arange(h)[None, :, None] - ty[:, None, None]
    xx = np.arange(w)[None, None, :] - tx[:, None, None]
    inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
    sy = (yy + oy[:, None, None] + 0.5) / zoom[:, None, None] - 0.5   # pixel centres
    sx = (xx + ox[:, None, None] + 0.5) / zoom[:, None, None] - 0.5
    sy, sx = np.broadcast_to(sy, (n, h, w)), np.broadcast_to(sx, (n, h, w))
    nan = np.float32(np.nan)
    return np.where(inside, sy, nan).astype(np.float32), np.where(inside, sx, nan).astype(np.float32)


def _gather(x, iy: np.ndarray, ix: np.ndarray):
    """out[n,c,y,x] = x[n, c, iy[n,y,x], ix[n,y,x]], 0 where the index is -1 (differentiable)."""
    n, c, h, w = x.shape
    return x.reindex([n, c, h, w], ["i0", "i1", "@e0(i0,i2,i3)", "@e1(i0,i2,i3)"], overflow_value=0.0,
                     extras=[jt.array(iy.astype(np.int32)), jt.array(ix.astype(np.int32))])


def sample_nearest(x, sy: np.ndarray, sx: np.ndarray):
    """Nearest-neighbour resampling of (N,C,H,W) at source coordinates (NaN -> 0)."""
    h, w = x.shape[2:]
    valid = ~np.isnan(sy)
    iy = np.where(valid, np.clip(np.rint(np.nan_to_num(sy)), 0, h - 1), -1)
    ix = np.where(valid, np.clip(np.rint(np.nan_to_num(sx)), 0, w - 1), -1)
    return _gather(x, iy, ix)


def sample_bilinear(x, sy: np.ndarray, sx: np.ndarray):
    """Bilinear resampling of (N,C,H,W) at source coordinates (edge-clamped; NaN -> 0)."""
    h, w = x.shape[2:]
    valid = ~np.isnan(sy)
    sy = np.clip(np.nan_to_num(sy), 0, h - 1)
    sx = np.clip(np.nan_to_num(sx), 0, w - 1)
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = sy - y0, sx - x0
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    out = 0.0
    for iy, ix, weight in ((y0, x0, (1 - fy) * (1 - fx)), (y0, x1, (1 - fy) * fx),
                           (y1, x0, fy * (1 - fx)), (y1, x1, fy * fx)):
        weight = jt.array((weight * valid).astype(np.float32)).unsqueeze(1)
        out = out + _gather(x, np.where(valid, iy, -1), np.where(valid, ix, -1)) * weight
    return out


def diff_augment(images, mask_onehot, policy: tuple[str, ...], rng=None):
    """Augment (N,3,H,W) images and their (N,29,H,W) one-hot masks with `policy` (see module doc).
    Returns (images, mask_onehot); the same geometric map per sample for both."""
    if not policy:
        return images, mask_onehot
    rng = np.random if rng is None else rng
    if "color" in policy:
        images = color(images, rng)
    if "translation" in policy or "crop" in policy:
        n, _, h, w = images.shape
        sy, sx = geometry(n, h, w, "translation" in policy, "crop" in policy, rng)
        images = sample_bilinear(images, sy, sx)
        mask_onehot = sample_nearest(mask_onehot, sy, sx)
    return images, mask_onehot
