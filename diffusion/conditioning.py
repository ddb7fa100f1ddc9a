"""Reference-style conditioning: a reference photo -> ref_tokens (B, N, D) and ref_global (B, D).

Style here is colour and light, so the encoder sees the photo twice:
- explicit colour statistics (per-channel mean and std, and a coarse joint RGB histogram with
  `hist_bins`³ cells), projected to ref_global;
- a small conv net whose features, average-pooled to a fixed 4x4 grid, become N = 16 tokens for
  cross-attention, and whose global mean also feeds ref_global.
A dropped reference (ref_keep = 0, for classifier-free guidance) gives learned null tokens and a
zero global vector. Layout is not what the route should carry: training pairs a target with a
reference of the same style and a different layout (see diffusion/refs.py).
"""
from __future__ import annotations

from lsgen.runtime import jt

nn = jt.nn
TOKEN_GRID = 4


def color_statistics(ref_image, hist_bins: int = 4):
    """ref_image (B, 3, H, W) in [-1, 1] -> (B, 6 + hist_bins³): channel means, channel stds, and
    the fraction of pixels in each cell of a hist_bins³ joint RGB histogram (sums to 1)."""
    b = ref_image.shape[0]
    flat = ref_image.reshape(b, 3, -1)
    mean = flat.mean(dim=2)
    std = ((flat - mean.unsqueeze(2)) ** 2).mean(dim=2).sqrt()
    levels = ((flat + 1) * 0.5 * hist_bins).floor().clamp(0, hist_bins - 1).int32()
    cell = (levels[:, 0] * hist_bins + levels[:, 1]) * hist_bins + levels[:, 2]
    onehot = (cell.unsqueeze(2) == jt.arange(hist_bins**3).reshape(1, 1, -1)).float32()
    return jt.concat([mean, std, onehot.mean(dim=1)], dim=1).stop_grad()


class RefEncoder(nn.Module):
    """(B, 3, H, W) reference in [-1, 1] + ref_keep (B,) -> (ref_tokens (B, 16, D), ref_global (B, D))."""

    def __init__(self, dim: int, hist_bins: int = 4, width: int = 32):
        super().__init__()
        self.hist_bins = hist_bins
        self.convs = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU())
        self.pool = nn.AdaptiveAvgPool2d(TOKEN_GRID)
        self.to_tokens = nn.Linear(2 * width, dim)
        self.stats_mlp = nn.Sequential(nn.Linear(6 + hist_bins**3 + 2 * width, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null_tokens = jt.zeros((1, TOKEN_GRID * TOKEN_GRID, dim))

    def execute(self, ref_image, ref_keep=None):
        b = ref_image.shape[0]
        features = self.convs(ref_image)
        tokens = self.to_tokens(self.pool(features).reshape(b, features.shape[1], -1).transpose(0, 2, 1))
        stats = jt.concat([color_statistics(ref_image, self.hist_bins), features.mean(dims=(2, 3))], dim=1)
        ref_global = self.stats_mlp(stats)
        if ref_keep is None:
            return tokens, ref_global
        keep = ref_keep.float32().reshape(b, 1, 1)
        tokens = tokens * keep + self.null_tokens * (1 - keep)
        return tokens, ref_global * keep.reshape(b, 1)
